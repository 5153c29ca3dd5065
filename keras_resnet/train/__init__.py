"""Training engine: configuration, model.fit recipes, run directories, evaluation.

The engine (``train``, ``build_classifier``, ``RunResult``) is imported on
first use: ``import keras_resnet`` registers ``keras_resnet.train.optim`` and
``keras_resnet.train.losses`` with Keras, and that must not pull in the
engine's imports (the data pipeline, the model registry) while another part
of the package may still be importing.
"""

from keras_resnet._lazy import lazy_exports
from keras_resnet.train.config import TrainConfig
from keras_resnet.train.evaluate import evaluate

_LAZY = {
    "RunResult": "keras_resnet.train.engine",
    "build_classifier": "keras_resnet.train.engine",
    "train": "keras_resnet.train.engine",
}

__all__ = ["RunResult", "TrainConfig", "build_classifier", "evaluate", "train"]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

"""Training engine: configuration, model.fit recipes, run directories, evaluation."""

from keras_resnet.train.config import TrainConfig
from keras_resnet.train.engine import RunResult, build_classifier, train
from keras_resnet.train.evaluate import evaluate

__all__ = ["RunResult", "TrainConfig", "build_classifier", "evaluate", "train"]

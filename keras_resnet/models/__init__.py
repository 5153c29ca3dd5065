"""Model builders, block factories and the model registry.

This package uses only ``keras``, so every builder works on any Keras
backend (TensorFlow, JAX, PyTorch).

Its names are imported on first use, so that ``keras_resnet.models.catalog``
(what ``keras-resnet models`` and the command line's model-name checks read)
can be imported without importing Keras. Reading any name below imports the
builders, which registers every built-in model.
"""

from keras_resnet._lazy import lazy_exports

# name -> the module that defines it.
_EXPORTS = {
    "DenseNetSpec": "keras_resnet.models.densenet",
    "ModelInfo": "keras_resnet.models.registry",
    "PretrainedWeights": "keras_resnet.models.catalog",
    "ResNetSpec": "keras_resnet.models.resnet",
    "baseline_cnn": "keras_resnet.models.vgg",
    "build_densenet": "keras_resnet.models.densenet",
    "build_model": "keras_resnet.models.registry",
    "build_resnet": "keras_resnet.models.resnet",
    "count_depth": "keras_resnet.models.summary",
    "count_flops": "keras_resnet.models.summary",
    "count_macs": "keras_resnet.models.summary",
    "count_trainable_params": "keras_resnet.models.summary",
    "densenet121": "keras_resnet.models.densenet",
    "get_model_info": "keras_resnet.models.registry",
    "get_pretrained": "keras_resnet.models.pretrained",
    "list_models": "keras_resnet.models.registry",
    "mini_resnet": "keras_resnet.models.resnet",
    "preact_resnet18": "keras_resnet.models.preact",
    "register_model": "keras_resnet.models.registry",
    "resnet18": "keras_resnet.models.resnet",
    "resnet18_noskip": "keras_resnet.models.resnet",
    "resnet34": "keras_resnet.models.resnet",
    "resnet50": "keras_resnet.models.resnet",
    "resnext29_2x64d": "keras_resnet.models.resnext",
    "to_stock_layers": "keras_resnet.models.layers",
    "weights_choices": "keras_resnet.models.catalog",
    "wide_resnet": "keras_resnet.models.preact",
    "wide_resnet16_4": "keras_resnet.models.preact",
    "wide_resnet28_10": "keras_resnet.models.preact",
}
_SUBMODULES = ("blocks", "builder", "layers", "pretrained")

__all__ = sorted([*_EXPORTS, *_SUBMODULES])


def _load_builtin_models() -> None:
    from keras_resnet.models.registry import load_builtin_models

    load_builtin_models()


__getattr__, __dir__ = lazy_exports(
    __name__, _EXPORTS, submodules=_SUBMODULES, before=_load_builtin_models
)

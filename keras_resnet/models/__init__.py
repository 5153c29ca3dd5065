"""Model builders, block factories and the model registry.

This package uses only ``keras``, so every builder works on any Keras
backend (TensorFlow, JAX, PyTorch).
"""

from keras_resnet.models import blocks, layers
from keras_resnet.models.densenet import densenet121
from keras_resnet.models.layers import to_stock_layers
from keras_resnet.models.preact import (
    preact_resnet18,
    wide_resnet,
    wide_resnet16_4,
    wide_resnet28_10,
)
from keras_resnet.models.registry import (
    ModelInfo,
    build_model,
    get_model_info,
    list_models,
    register_model,
)
from keras_resnet.models.resnet import (
    mini_resnet,
    resnet18,
    resnet18_noskip,
    resnet34,
    resnet50,
)
from keras_resnet.models.resnext import resnext29_2x64d
from keras_resnet.models.summary import (
    count_depth,
    count_flops,
    count_macs,
    count_trainable_params,
)
from keras_resnet.models.vgg import baseline_cnn

__all__ = [
    "ModelInfo",
    "baseline_cnn",
    "blocks",
    "build_model",
    "count_depth",
    "count_flops",
    "count_macs",
    "count_trainable_params",
    "densenet121",
    "get_model_info",
    "layers",
    "list_models",
    "mini_resnet",
    "preact_resnet18",
    "register_model",
    "resnet18",
    "resnet18_noskip",
    "resnet34",
    "resnet50",
    "resnext29_2x64d",
    "to_stock_layers",
    "wide_resnet",
    "wide_resnet16_4",
    "wide_resnet28_10",
]

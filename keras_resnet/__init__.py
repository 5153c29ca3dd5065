"""keras-resnet: residual networks for CIFAR-class data with Keras 3."""

from keras_resnet.models import (
    build_model,
    get_model_info,
    list_models,
    register_model,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "build_model",
    "get_model_info",
    "list_models",
    "register_model",
]

"""keras-resnet: residual networks for CIFAR-class data with Keras 3.

The registry functions are imported on first use, so that importing the
package (for example to print ``keras-resnet --help``) does not start Keras
and its backend.
"""

import importlib

__version__ = "0.1.0"

_LAZY = {
    "build_model": "keras_resnet.models",
    "get_model_info": "keras_resnet.models",
    "list_models": "keras_resnet.models",
    "register_model": "keras_resnet.models",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keras_resnet' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

"""keras-resnet: residual networks for CIFAR-class data with Keras 3.

The registry functions are imported on first use, so that importing the
package (for example to print ``keras-resnet --help``) does not start Keras
and its backend.

Importing the package still registers every serializable class it defines
(the fused ``BatchNormalization``, the augmentation layers, the learning-rate
schedules, ``KernelL2SGD``, ``CrossEntropy``) with Keras: at once if Keras is
already imported, otherwise right after Keras finishes importing. So a
``.keras`` file naming them loads after ``import keras_resnet``, in either
import order.

Importing the package changes no setting of the process: the ``keras-resnet``
command turns TensorFlow's oneDNN CPU kernels on (docs/training.md, "oneDNN");
a program that calls the library sets ``TF_ENABLE_ONEDNN_OPTS`` itself.
"""

import importlib
import importlib.abc
import importlib.util
import sys

from keras_resnet._lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "build_model": "keras_resnet.models",
    "get_model_info": "keras_resnet.models",
    "list_models": "keras_resnet.models",
    "register_model": "keras_resnet.models",
}

# Every module that defines a ``register_keras_serializable`` class. They
# import nothing heavier than ``keras`` at module level.
SERIALIZABLE_MODULES = (
    "keras_resnet.models.layers",
    "keras_resnet.augment",
    "keras_resnet.train.optim",
    "keras_resnet.train.losses",
)

__all__ = ["ONEDNN_VARIABLE", "SERIALIZABLE_MODULES", "__version__", *_LAZY]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


def _register_serializables() -> None:
    # A module already in sys.modules (possibly still importing, when Keras
    # was imported from inside it) registers its classes itself.
    for name in SERIALIZABLE_MODULES:
        if name not in sys.modules:
            importlib.import_module(name)


class _LoaderProxy:
    """Wraps Keras' loader: runs the registration once its module is executed."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _register_serializables()


class _AfterKerasImport(importlib.abc.MetaPathFinder):
    """A one-shot import hook: when ``keras`` is imported, register our classes."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        _remove_hook()
        spec = importlib.util.find_spec("keras")  # the real finders, not us
        if spec is not None and spec.loader is not None:
            spec.loader = _LoaderProxy(spec.loader)
        return spec


def _remove_hook() -> None:
    sys.meta_path[:] = [
        f for f in sys.meta_path if not isinstance(f, _AfterKerasImport)
    ]


def _install_registration() -> None:
    if "keras" in sys.modules:
        _register_serializables()
    elif not any(isinstance(f, _AfterKerasImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterKerasImport())


ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


_install_registration()

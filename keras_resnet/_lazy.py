"""Package attributes imported on first use (PEP 562).

The package, ``keras_resnet.models`` and ``keras_resnet.train`` keep their
public names cheap to reach: ``keras-resnet --help`` and the model catalog
must not import Keras, and the serialization hook of ``import keras_resnet``
must not pull in the training engine.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping


def lazy_exports(
    module_name: str,
    exports: Mapping[str, str],
    *,
    submodules: Iterable[str] = (),
    before: Callable[[], None] | None = None,
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the module ``module_name``.

    Args:
        module_name: The package's ``__name__``.
        exports: Attribute name -> the module defining it.
        submodules: Submodule names imported when read as attributes.
        before: Called before the first export is imported (for example to
            register built-in models).

    Returns:
        The two module-level functions to assign.
    """
    namespace = sys.modules[module_name].__dict__
    submodules = tuple(submodules)

    def __getattr__(name: str):
        if name in submodules:
            return importlib.import_module(f"{module_name}.{name}")
        if name in exports:
            if before is not None:
                before()
            value = getattr(importlib.import_module(exports[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports) | set(submodules))

    return __getattr__, __dir__

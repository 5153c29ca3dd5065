"""Import the scripts in benchmarks/ (they are scripts, not a package).

A module of its own rather than conftest.py: several folders have a
conftest.py, so ``from conftest import ...`` finds whichever was loaded last.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from types import ModuleType

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"


def load_benchmark_module(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` once and return the module."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))  # the scripts import _common
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]

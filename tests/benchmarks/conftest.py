"""Import the scripts in benchmarks/ (they are scripts, not a package)."""

import importlib.util
import pathlib
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"


def load_benchmark_module(name: str):
    """Import ``benchmarks/<name>.py`` once and return the module."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def common():
    """``benchmarks/_common.py``."""
    return load_benchmark_module("_common")


@pytest.fixture(scope="session")
def throughput():
    """``benchmarks/train_throughput.py``."""
    return load_benchmark_module("train_throughput")


@pytest.fixture(scope="session")
def profile_step():
    """``benchmarks/profile_step.py``."""
    return load_benchmark_module("profile_step")

"""Fixtures: the benchmark scripts as modules."""

import pytest
from benchmark_scripts import load_benchmark_module


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

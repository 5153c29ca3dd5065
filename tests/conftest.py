import os
import pathlib

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_CIFAR = REPO.parent / "shared" / "data" / "cifar10-jpeg"


@pytest.fixture(scope="session")
def shared_cifar_dir():
    """The shared real CIFAR-10 JPEG copy (skips the test when absent)."""
    if not (SHARED_CIFAR / "train.tar.gz").is_file():
        pytest.skip(f"shared CIFAR-10 copy not found at {SHARED_CIFAR}")
    return SHARED_CIFAR

"""Models built once per session and shared by the tests that only read them.

Building is most of the cost of these tests (DenseNet-121 has 425 layers even
at width 0.125), so a test that neither trains nor calls a model with
``training=True`` takes its model from ``tiny_model`` (a registered model) or
``arch_model`` (an entry of ``model_archs.ARCHS``) instead of building it
again, and the full-size counts are measured once (``measured``).
"""

import functools

import pytest
from model_archs import TINY, build_arch

import keras_resnet
from keras_resnet.models.summary import measure


@functools.cache
def _tiny(name: str, options: tuple) -> object:
    return keras_resnet.build_model(name, **TINY, **dict(options))


@functools.cache
def _arch(arch: str, options: tuple) -> object:
    return build_arch(arch, **dict(options))


@pytest.fixture(scope="session")
def tiny_model():
    """``tiny_model(name, **kwargs)``: a cached width-0.125 model. Read only."""

    def get(name: str, **kwargs):
        return _tiny(name, tuple(sorted(kwargs.items())))

    return get


@pytest.fixture(scope="session")
def arch_model():
    """``arch_model(arch, **kwargs)``: a cached ``build_arch``. Read only."""

    def get(arch: str, **kwargs):
        return _arch(arch, tuple(sorted(kwargs.items())))

    return get


@pytest.fixture(scope="session")
def measured():
    """Every registered model built once at full size and counted (catalog)."""
    return measure()

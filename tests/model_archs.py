"""The kinds of model body, each at its smallest layout, for family-generic tests.

Checks that do not depend on a model's depth (shapes, the head, round trips,
a training step, the normalization and skip switches) run once per entry of
``ARCHS`` instead of once per registered model: DenseNet-121 alone has 425
layers even at width 0.125. Every registered model is still built at full
size and counted (test_catalog), checked argument by argument and compared
with the published counts (test_builders), and its own layout is checked in
test_family. The no-TensorFlow suite builds the same bodies on JAX.
"""

import dataclasses
import functools

import keras_resnet
from keras_resnet.models.densenet import DenseNetSpec, build_densenet
from keras_resnet.models.resnet import RESNET50, build_resnet
from keras_resnet.models.resnext import resnext29_spec

TINY = {"width_multiplier": 0.125}


def _registered(name, **options):
    return functools.partial(keras_resnet.build_model, name, **TINY, **options)


def _spec(build, spec, name):
    return functools.partial(build, spec, name=name, **TINY)


# One entry per kind of body: each family of the registry and, within the
# resnet family, each block type and the no-skip variant. The shallowest
# registered model where there is a small one, else the registered spec with
# one block (DenseNet: two layers) per stage: the same blocks, stem and head.
ARCHS = {
    "baseline_cnn": ("plain", _registered("baseline_cnn")),
    "mini_resnet": ("resnet", _registered("mini_resnet", blocks_per_stage=1)),
    "resnet18_noskip": ("resnet", _registered("resnet18_noskip")),
    "resnet50_1111": (
        "resnet",
        _spec(build_resnet, dataclasses.replace(RESNET50, blocks=(1,) * 4), "r50"),
    ),
    "resnext29_111": (
        "resnext",
        _spec(
            build_resnet,
            dataclasses.replace(resnext29_spec(2, 64), blocks=(1,) * 3),
            "rx29",
        ),
    ),
    "preact_resnet18": ("preact-resnet", _registered("preact_resnet18")),
    "wide_resnet16_4": ("wide-resnet", _registered("wide_resnet16_4")),
    "densenet_2222": (
        "densenet",
        _spec(build_densenet, DenseNetSpec(32, (2,) * 4), "densenet"),
    ),
}
# Bodies with shortcuts, which use_skip=False removes.
SKIP_ARCHS = [
    arch
    for arch, (family, _) in ARCHS.items()
    if family not in ("plain", "densenet") and "noskip" not in arch
]


def build_arch(arch: str, **kwargs):
    """A new model of ``ARCHS[arch]`` at width 0.125 with builder ``kwargs``."""
    return ARCHS[arch][1](**kwargs)

"""ResNet builders for CIFAR-class inputs.

Architecture is data: a ``ResNetSpec`` fixes the stem width, the block
function and the per-stage filters, block counts and strides; ``_resnet``
turns a spec into a model through the shared factory. Each public builder
fixes one spec.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras

from keras_resnet.models import blocks
from keras_resnet.models._factory import assemble, validate_positive
from keras_resnet.models.registry import register_model

BLOCK_TYPES: dict[str, Callable] = {
    "basic": blocks.basic_block,
    "bottleneck": blocks.bottleneck_block,
}


@dataclasses.dataclass(frozen=True)
class ResNetSpec:
    """A CIFAR ResNet: stem width, block type and per-stage layout.

    Attributes:
        stem_filters: Filters of the 3x3 stem convolution.
        block: Key of ``BLOCK_TYPES``.
        filters: Filters per stage.
        blocks: Blocks per stage.
        strides: Stride of the first block of each stage.
        block_kwargs: Extra arguments for every block (e.g. ``groups``).
    """

    stem_filters: int
    block: str
    filters: tuple[int, ...]
    blocks: tuple[int, ...]
    strides: tuple[int, ...]
    block_kwargs: tuple[tuple[str, object], ...] = ()


RESNET18 = ResNetSpec(64, "basic", (64, 128, 256, 512), (2, 2, 2, 2), (1, 2, 2, 2))


def he_cifar_spec(blocks_per_stage: int) -> ResNetSpec:
    """He et al.'s CIFAR ResNet-(6n+2): 16/32/64 filters, n blocks a stage."""
    n = blocks_per_stage
    return ResNetSpec(16, "basic", (16, 32, 64), (n, n, n), (1, 2, 2))


def _resnet(
    spec: ResNetSpec,
    *,
    width_multiplier: float = 1.0,
    use_skip: bool = True,
    name: str,
    **common,
) -> keras.Model:
    """Build ``spec`` through the shared factory (see ``assemble``)."""
    validate_positive(width_multiplier, "width_multiplier")
    if not isinstance(use_skip, bool):
        raise ValueError(
            f"use_skip must be True or False. Received: use_skip={use_skip!r}"
        )
    if spec.block not in BLOCK_TYPES:
        raise ValueError(
            f"Unknown block type; expected one of {sorted(BLOCK_TYPES)}. "
            f"Received: block={spec.block!r}"
        )
    block = BLOCK_TYPES[spec.block]

    def stack(x):
        x = blocks.cifar_stem(x, blocks.scaled(spec.stem_filters, width_multiplier))
        for index, (filters, count, strides) in enumerate(
            zip(spec.filters, spec.blocks, spec.strides, strict=True), start=1
        ):
            x = blocks.stage(
                x,
                block,
                blocks.scaled(filters, width_multiplier),
                count,
                name=f"stage{index}",
                strides=strides,
                use_skip=use_skip,
                **dict(spec.block_kwargs),
            )
        return x

    return assemble(stack, name=name, **common)


@register_model(
    "resnet18",
    description="ResNet-18 for 32x32 inputs (3x3 stem, basic blocks 2/2/2/2)",
    has_skip=True,
)
def resnet18(
    *,
    include_top: bool = True,
    input_shape: tuple | None = None,
    input_tensor=None,
    pooling: str | None = None,
    num_classes: int = 10,
    classifier_activation: str | None = "softmax",
    width_multiplier: float = 1.0,
    use_skip: bool = True,
    weights=None,
    name: str = "resnet18",
) -> keras.Model:
    """CIFAR ResNet-18: 3x3/64 stem, 2 basic blocks at 64/128/256/512 filters.

    With 10 classes it has 11,173,962 trainable parameters, the count of the
    widely used PyTorch CIFAR ResNet-18.

    Args:
        include_top: Whether to include the pooling + dense classifier.
        input_shape: ``(height, width, channels)``, default ``(32, 32, 3)``.
        input_tensor: Optional Keras tensor to use as input.
        pooling: Without the top: None, ``"avg"`` or ``"max"``.
        num_classes: Number of classes.
        classifier_activation: Activation of the output (None for logits).
        width_multiplier: Scales every layer's filters.
        use_skip: False removes every shortcut (see ``resnet18_noskip``).
        weights: None or the path of a weights file.
        name: Model name.

    Returns:
        A ``keras.Model``.

    Example:
        >>> model = resnet18(width_multiplier=0.25, num_classes=100)
    """
    return _resnet(RESNET18, **locals())


@register_model(
    "resnet18_noskip",
    description="ResNet-18 with every shortcut removed (the plain ablation)",
)
def resnet18_noskip(
    *,
    include_top: bool = True,
    input_shape: tuple | None = None,
    input_tensor=None,
    pooling: str | None = None,
    num_classes: int = 10,
    classifier_activation: str | None = "softmax",
    width_multiplier: float = 1.0,
    weights=None,
    name: str = "resnet18_noskip",
) -> keras.Model:
    """ResNet-18 without shortcuts: no identity, no projection, no ``Add``.

    Every layer it shares with ``resnet18`` has the same name; with 10
    classes it has 11,000,138 trainable parameters. Arguments as for
    ``resnet18``.
    """
    return _resnet(RESNET18, use_skip=False, **locals())


@register_model(
    "mini_resnet",
    description="He et al.'s CIFAR ResNet-(6n+2), 16/32/64 filters (n=3: ResNet-20)",
    has_skip=True,
)
def mini_resnet(
    *,
    include_top: bool = True,
    input_shape: tuple | None = None,
    input_tensor=None,
    pooling: str | None = None,
    num_classes: int = 10,
    classifier_activation: str | None = "softmax",
    width_multiplier: float = 1.0,
    blocks_per_stage: int = 3,
    use_skip: bool = True,
    weights=None,
    name: str = "mini_resnet",
) -> keras.Model:
    """The study's small residual net: He et al.'s CIFAR ResNet.

    A 3x3/16 stem and three stages of ``blocks_per_stage`` basic blocks at
    16/32/64 filters, strides 1/2/2. ``blocks_per_stage`` = 3, 5, 7, 9, 18
    gives ResNet-20/32/44/56/110. Shortcuts that change shape are 1x1
    projections (He et al.'s option B), so ResNet-20 has 272,474 trainable
    parameters rather than option A's 269,722.

    Args:
        blocks_per_stage: Basic blocks in each of the three stages.
        Other arguments as for ``resnet18``.
    """
    validate_positive(blocks_per_stage, "blocks_per_stage", integer=True)
    kwargs = locals()
    return _resnet(he_cifar_spec(kwargs.pop("blocks_per_stage")), **kwargs)

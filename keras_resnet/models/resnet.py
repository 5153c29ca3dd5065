"""ResNet builders for CIFAR-class inputs.

Architecture is data, as in keras-hub's ``ResNetBackbone``: a ``ResNetSpec``
fixes the stem, the block type and the per-stage filters, block counts and
strides, and ``build_resnet(spec, ...)`` turns any spec into a model. Each
named builder (``resnet18`` ...) fixes one spec; the arguments they share
are documented once, on ``keras_resnet.models.builder.check_arguments``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras

from keras_resnet._validation import check_int, fail
from keras_resnet.models import blocks
from keras_resnet.models.builder import assemble, builder
from keras_resnet.models.registry import register_model

BLOCK_TYPES: dict[str, Callable] = {
    "basic": blocks.basic_block,
    "bottleneck": blocks.bottleneck_block,
    "preact": blocks.preact_block,
}
# Pre-activation blocks normalize their own input, so the stem is a bare conv.
PREACT_BLOCK_TYPES = frozenset({"preact"})


@dataclasses.dataclass(frozen=True)
class ResNetSpec:
    """A CIFAR ResNet: stem width, block type and per-stage layout.

    Checked when created: an unknown block type or stages of different
    lengths raise ``ValueError``. Sequences are stored as tuples, so a spec
    compares and hashes by value.

    Attributes:
        stem_filters: Filters of the stem convolution.
        block: Key of ``BLOCK_TYPES``: ``"basic"``, ``"bottleneck"`` or
            ``"preact"``.
        filters: Filters per stage (a bottleneck's inner width).
        blocks: Blocks per stage.
        strides: Stride of the first block of each stage.
        block_kwargs: Extra arguments for every block, as ``(name, value)``
            pairs (e.g. ``(("groups", 2),)``).
        stem_kernel_size: Kernel size of the stem convolution.
        post_activation: Whether a BN-ReLU (``post_bn``, ``post_relu``)
            follows the last block, as pre-activation networks need.
    """

    stem_filters: int
    block: str
    filters: tuple[int, ...]
    blocks: tuple[int, ...]
    strides: tuple[int, ...]
    block_kwargs: tuple[tuple[str, object], ...] = ()
    stem_kernel_size: int = 3
    post_activation: bool = False

    def __post_init__(self) -> None:
        if self.block not in BLOCK_TYPES:
            fail("block", self.block, f"must be one of {', '.join(BLOCK_TYPES)}")
        check_int("stem_filters", self.stem_filters)
        check_int("stem_kernel_size", self.stem_kernel_size)
        for field in ("filters", "blocks", "strides", "block_kwargs"):
            value = getattr(self, field)
            pairs = value.items() if isinstance(value, dict) else value
            object.__setattr__(self, field, tuple(pairs))
        for field in ("filters", "blocks", "strides"):
            value = getattr(self, field)
            if not value or len(value) != len(self.filters):
                fail(field, value, "must give one entry per stage, as filters does")
            for item in value:
                check_int(field, item)


RESNET18 = ResNetSpec(64, "basic", (64, 128, 256, 512), (2, 2, 2, 2), (1, 2, 2, 2))
RESNET34 = ResNetSpec(64, "basic", (64, 128, 256, 512), (3, 4, 6, 3), (1, 2, 2, 2))
RESNET50 = ResNetSpec(64, "bottleneck", (64, 128, 256, 512), (3, 4, 6, 3), (1, 2, 2, 2))


def he_cifar_spec(blocks_per_stage: int) -> ResNetSpec:
    """He et al.'s CIFAR ResNet-(6n+2): 16/32/64 filters, n blocks a stage.

    Raises:
        ValueError: If ``blocks_per_stage`` is not a positive integer.
    """
    check_int("blocks_per_stage", blocks_per_stage)
    n = blocks_per_stage
    return ResNetSpec(16, "basic", (16, 32, 64), (n, n, n), (1, 2, 2))


@builder()
def build_resnet(
    spec: ResNetSpec,
    *,
    name: str = "resnet",
    width_multiplier,
    use_skip,
    normalization,
    **options,
) -> keras.Model:
    """Build the CIFAR ResNet that ``spec`` describes.

    A stem convolution (conv-BN-ReLU, or a bare conv before pre-activation
    blocks), then stage ``i`` (``stage{i}_block{j}_...``) of
    ``spec.blocks[i]`` blocks at ``spec.filters[i]`` filters, the first one
    striding by ``spec.strides[i]``, a 1x1 projection shortcut only where
    the shape changes, and the keras.applications head of ``assemble``.

    Args:
        spec: The architecture.
        name: Model name.

    Returns:
        A Functional ``keras.Model``.

    Example:
        >>> spec = ResNetSpec(
        ...     stem_filters=32,
        ...     block="basic",
        ...     filters=(32, 64),
        ...     blocks=(1, 1),
        ...     strides=(1, 2),
        ... )
        >>> model = build_resnet(spec, num_classes=100, name="resnet6")
    """
    block = BLOCK_TYPES[spec.block]
    block_kwargs = dict(spec.block_kwargs)
    # Grouped convolutions need channels that split evenly into the groups.
    divisor = block_kwargs.get("groups", 1)

    def stack(x):
        x = blocks.cifar_stem(
            x,
            blocks.scaled(spec.stem_filters, width_multiplier),
            kernel_size=spec.stem_kernel_size,
            normalize=spec.block not in PREACT_BLOCK_TYPES,
            normalization=normalization,
        )
        for index, (filters, count, strides) in enumerate(
            zip(spec.filters, spec.blocks, spec.strides, strict=True), start=1
        ):
            x = blocks.stage(
                x,
                block,
                blocks.scaled(filters, width_multiplier, divisor),
                count,
                name=f"stage{index}",
                strides=strides,
                use_skip=use_skip,
                normalization=normalization,
                **block_kwargs,
            )
        if spec.post_activation:
            x = blocks.bn_relu(x, name="post", normalization=normalization)
        return x

    return assemble(stack, name=name, **options)


@register_model(
    description="ResNet-18 for 32x32 inputs (3x3 stem, basic blocks 2/2/2/2)",
)
@builder()
def resnet18(**options) -> keras.Model:
    """CIFAR ResNet-18: 3x3/64 stem, 2 basic blocks at 64/128/256/512 filters.

    With 10 classes it has 11,173,962 trainable parameters, the count of the
    widely used PyTorch CIFAR ResNet-18 (11,169,162 with
    ``normalization="none"``).

    Example:
        >>> model = resnet18(width_multiplier=0.25, num_classes=100)
    """
    return build_resnet(RESNET18, **options)


@register_model(
    description="ResNet-18 with every shortcut removed (the plain ablation)",
)
@builder(without=("use_skip",))
def resnet18_noskip(**options) -> keras.Model:
    """ResNet-18 without shortcuts: no identity, no projection, no ``Add``.

    Every layer it shares with ``resnet18`` has the same name; with 10
    classes it has 11,000,138 trainable parameters.
    """
    return build_resnet(RESNET18, use_skip=False, **options)


@register_model(
    description="He et al.'s CIFAR ResNet-(6n+2), 16/32/64 filters (n=3: ResNet-20)",
)
@builder()
def mini_resnet(*, blocks_per_stage: int = 3, **options) -> keras.Model:
    """The study's small residual net: He et al.'s CIFAR ResNet.

    A 3x3/16 stem and three stages of ``blocks_per_stage`` basic blocks at
    16/32/64 filters, strides 1/2/2. ``blocks_per_stage`` = 3, 5, 7, 9, 18
    gives ResNet-20/32/44/56/110. Shortcuts that change shape are 1x1
    projections (He et al.'s option B), so ResNet-20 has 272,474 trainable
    parameters rather than option A's 269,722.

    Args:
        blocks_per_stage: Basic blocks in each of the three stages.
    """
    return build_resnet(he_cifar_spec(blocks_per_stage), **options)


@register_model(
    description="ResNet-34 for 32x32 inputs (3x3 stem, basic blocks 3/4/6/3)",
)
@builder()
def resnet34(**options) -> keras.Model:
    """CIFAR ResNet-34: ResNet-18's layout with 3/4/6/3 basic blocks.

    With 10 classes it has 21,282,122 trainable parameters, the count of the
    widely used PyTorch CIFAR ResNet-34.
    """
    return build_resnet(RESNET34, **options)


@register_model(
    description="ResNet-50 for 32x32 inputs (3x3 stem, bottlenecks 3/4/6/3, x4)",
)
@builder()
def resnet50(**options) -> keras.Model:
    """CIFAR ResNet-50: 3/4/6/3 bottleneck blocks, expansion 4.

    Bottleneck widths 64/128/256/512 give 256/512/1024/2048 output channels;
    the stride sits on the 3x3 convolution. With 10 classes it has
    23,520,842 trainable parameters, the count of the widely used PyTorch
    CIFAR ResNet-50.
    """
    return build_resnet(RESNET50, **options)


__all__ = [
    "BLOCK_TYPES",
    "ResNetSpec",
    "build_resnet",
    "he_cifar_spec",
    "mini_resnet",
    "resnet18",
    "resnet18_noskip",
    "resnet34",
    "resnet50",
]

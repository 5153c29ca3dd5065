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
    "preact": blocks.preact_block,
}
# Pre-activation blocks normalize their own input, so the stem is a bare conv.
PREACT_BLOCK_TYPES = frozenset({"preact"})


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


RESNET18 = ResNetSpec(64, "basic", (64, 128, 256, 512), (2, 2, 2, 2), (1, 2, 2, 2))
RESNET34 = ResNetSpec(64, "basic", (64, 128, 256, 512), (3, 4, 6, 3), (1, 2, 2, 2))
RESNET50 = ResNetSpec(64, "bottleneck", (64, 128, 256, 512), (3, 4, 6, 3), (1, 2, 2, 2))


def he_cifar_spec(blocks_per_stage: int) -> ResNetSpec:
    """He et al.'s CIFAR ResNet-(6n+2): 16/32/64 filters, n blocks a stage."""
    n = blocks_per_stage
    return ResNetSpec(16, "basic", (16, 32, 64), (n, n, n), (1, 2, 2))


def _resnet(
    spec: ResNetSpec,
    *,
    width_multiplier: float = 1.0,
    use_skip: bool = True,
    normalization: str = "batch",
    name: str,
    **common,
) -> keras.Model:
    """Build ``spec`` through the shared factory (see ``assemble``)."""
    validate_positive(width_multiplier, "width_multiplier")
    blocks.check_normalization(normalization)
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
    normalization: str = "batch",
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
        normalization: ``"batch"`` (default): BN after every convolution.
            ``"none"``: no BatchNormalization layer, every convolution with
            a bias, He-normal (fan-in) kernels as with BN, which keep a
            plain ReLU net's signal at a constant scale (He et al., 2015);
            residual branches are not rescaled (see
            ``keras_resnet.models.blocks``). 11,169,162 trainable parameters
            with 10 classes. Every convolution, activation and the
            classifier keep their names.
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
    normalization: str = "batch",
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
    normalization: str = "batch",
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


@register_model(
    "resnet34",
    description="ResNet-34 for 32x32 inputs (3x3 stem, basic blocks 3/4/6/3)",
    has_skip=True,
)
def resnet34(
    *,
    include_top: bool = True,
    input_shape: tuple | None = None,
    input_tensor=None,
    pooling: str | None = None,
    num_classes: int = 10,
    classifier_activation: str | None = "softmax",
    width_multiplier: float = 1.0,
    use_skip: bool = True,
    normalization: str = "batch",
    weights=None,
    name: str = "resnet34",
) -> keras.Model:
    """CIFAR ResNet-34: ResNet-18's layout with 3/4/6/3 basic blocks.

    With 10 classes it has 21,282,122 trainable parameters, the count of the
    widely used PyTorch CIFAR ResNet-34. Arguments as for ``resnet18``.
    """
    return _resnet(RESNET34, **locals())


@register_model(
    "resnet50",
    description="ResNet-50 for 32x32 inputs (3x3 stem, bottlenecks 3/4/6/3, x4)",
    has_skip=True,
)
def resnet50(
    *,
    include_top: bool = True,
    input_shape: tuple | None = None,
    input_tensor=None,
    pooling: str | None = None,
    num_classes: int = 10,
    classifier_activation: str | None = "softmax",
    width_multiplier: float = 1.0,
    use_skip: bool = True,
    normalization: str = "batch",
    weights=None,
    name: str = "resnet50",
) -> keras.Model:
    """CIFAR ResNet-50: 3/4/6/3 bottleneck blocks, expansion 4.

    Bottleneck widths 64/128/256/512 give 256/512/1024/2048 output channels;
    the stride sits on the 3x3 convolution. With 10 classes it has
    23,520,842 trainable parameters, the count of the widely used PyTorch
    CIFAR ResNet-50. Arguments as for ``resnet18``.
    """
    return _resnet(RESNET50, **locals())

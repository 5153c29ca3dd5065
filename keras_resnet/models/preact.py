"""Pre-activation ResNets: PreAct ResNet-18 and Wide ResNets.

Both are ``ResNetSpec``s over ``blocks.preact_block`` (He et al., 2016,
"Identity Mappings in Deep Residual Networks"); a Wide ResNet (Zagoruyko &
Komodakis, 2016) is a three-stage pre-activation net whose widths are
multiplied by ``widen_factor``, with optional dropout inside each block.
"""

from __future__ import annotations

import keras

from keras_resnet._validation import check_int, check_number, fail
from keras_resnet.models.builder import builder
from keras_resnet.models.registry import register_model
from keras_resnet.models.resnet import ResNetSpec, build_resnet

PREACT_RESNET18 = ResNetSpec(
    64, "preact", (64, 128, 256, 512), (2, 2, 2, 2), (1, 2, 2, 2)
)


@register_model(
    description="Pre-activation ResNet-18 (BN-ReLU before each conv, 2/2/2/2)",
    family="preact-resnet",
)
@builder()
def preact_resnet18(**options) -> keras.Model:
    """Pre-activation ResNet-18 for 32x32 inputs.

    A bare 3x3/64 stem convolution, then ResNet-18's 2/2/2/2 stages of
    pre-activation blocks (BN-ReLU-conv twice, identity added after; 1x1
    projections without BN where the shape changes). With 10 classes it has
    11,171,146 trainable parameters, the count of the widely used PyTorch
    CIFAR PreActResNet18. Like that implementation, and unlike He et al.'s
    networks, there is no BN-ReLU after the last block (it would add 1,024
    parameters); the Wide ResNets here do have it.
    """
    return build_resnet(PREACT_RESNET18, **options)


def wide_resnet_spec(depth: int, widen_factor: int, dropout: float) -> ResNetSpec:
    """WRN-``depth``-``widen_factor``: (depth - 4) / 6 blocks in each stage.

    Raises:
        ValueError: If ``depth`` is not 6n + 4 with n >= 1, or
            ``widen_factor`` is not a positive integer, or ``dropout`` is
            outside [0, 1).
    """
    check_int("widen_factor", widen_factor)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10:
        fail("depth", depth, "must be an integer 6n + 4 >= 10")
    if (depth - 4) % 6:
        fail("depth", depth, "must be an integer 6n + 4 >= 10")
    check_number("dropout", dropout, below=1.0)
    n = (depth - 4) // 6
    k = widen_factor
    return ResNetSpec(
        16,
        "preact",
        (16 * k, 32 * k, 64 * k),
        (n, n, n),
        (1, 2, 2),
        block_kwargs=(("dropout", float(dropout)),),
        post_activation=True,
    )


@builder()
def wide_resnet(
    *,
    depth: int = 28,
    widen_factor: int = 10,
    dropout: float = 0.0,
    name: str | None = None,
    **options,
) -> keras.Model:
    """Wide ResNet WRN-``depth``-``widen_factor`` (Zagoruyko & Komodakis, 2016).

    A bare 3x3/16 stem, three stages of (depth - 4) / 6 pre-activation
    blocks at 16k/32k/64k filters (strides 1/2/2, 1x1 projections without BN
    where the shape changes), dropout between the two convolutions of each
    block, and a final BN-ReLU before pooling. WRN-28-10 has 36,479,194
    trainable parameters with 10 classes, the count of the widely used
    PyTorch WideResNet. The paper's depth counts every convolution (the three
    shortcut projections included) and not the classifier, so
    ``count_depth``, which counts the main path and the classifier, reports
    26 for WRN-28-10.

    Args:
        depth: Total depth 6n + 4 (16, 22, 28, 40, ...).
        widen_factor: Width multiplier k of the paper (an integer).
        dropout: Dropout rate between the block's convolutions (the paper
            uses 0.3 with its best CIFAR results).
        name: Model name; default ``wide_resnet{depth}_{widen_factor}``.

    Returns:
        A ``keras.Model``.

    Example:
        >>> model = wide_resnet(depth=16, widen_factor=4, dropout=0.3)
    """
    spec = wide_resnet_spec(depth, widen_factor, dropout)
    name = f"wide_resnet{depth}_{widen_factor}" if name is None else name
    return build_resnet(spec, name=name, **options)


@register_model(
    description="Wide ResNet WRN-28-10 (pre-activation, 160/320/640 filters)",
    family="wide-resnet",
)
@builder()
def wide_resnet28_10(*, dropout: float = 0.0, **options) -> keras.Model:
    """WRN-28-10, the paper's best CIFAR network: 36,479,194 parameters.

    ``wide_resnet(depth=28, widen_factor=10)``; the count is with 10
    classes. ``dropout`` (between each block's convolutions) is 0 by
    default; the paper's best results use 0.3.
    """
    return wide_resnet(depth=28, widen_factor=10, dropout=dropout, **options)


@register_model(
    description="Wide ResNet WRN-16-4 (pre-activation, 64/128/256 filters)",
    family="wide-resnet",
)
@builder()
def wide_resnet16_4(*, dropout: float = 0.0, **options) -> keras.Model:
    """WRN-16-4, a small Wide ResNet: 2,748,890 trainable parameters.

    ``wide_resnet(depth=16, widen_factor=4, dropout=dropout)``, with 10
    classes.
    """
    return wide_resnet(depth=16, widen_factor=4, dropout=dropout, **options)


__all__ = [
    "preact_resnet18",
    "wide_resnet",
    "wide_resnet16_4",
    "wide_resnet28_10",
    "wide_resnet_spec",
]

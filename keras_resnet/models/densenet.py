"""DenseNet-BC for CIFAR (Huang et al., 2017, "Densely Connected
Convolutional Networks").

Every layer's output is concatenated to its input, so a dense block has no
shortcut ``Add`` to remove: the DenseNet builders take no ``use_skip`` and
are registered with ``has_skip=False``. Dropping the concatenations would
not ablate a shortcut but make a different, much narrower plain network.
"""

from __future__ import annotations

import dataclasses
import math

import keras

from keras_resnet.models import blocks
from keras_resnet.models.builder import assemble, builder
from keras_resnet.models.registry import register_model


@dataclasses.dataclass(frozen=True)
class DenseNetSpec:
    """A CIFAR DenseNet-BC.

    Attributes:
        growth_rate: Channels each dense layer adds (k).
        blocks: Dense layers per dense block.
        compression: Fraction of channels a transition keeps (rounded down).
        bottleneck_factor: The 1x1 convolution has this many times
            ``growth_rate`` channels.
    """

    growth_rate: int
    blocks: tuple[int, ...]
    compression: float = 0.5
    bottleneck_factor: int = 4


DENSENET121 = DenseNetSpec(32, (6, 12, 24, 16))


@builder(without=("use_skip",))
def build_densenet(
    spec: DenseNetSpec,
    *,
    name: str = "densenet",
    width_multiplier,
    normalization,
    **options,
) -> keras.Model:
    """Build the CIFAR DenseNet-BC that ``spec`` describes.

    The stem is a bare 3x3 convolution to twice the growth rate; dense block
    ``i`` is stage ``i``; transitions (``transition1`` ...) compress and
    halve the resolution between them; a BN-ReLU (``post_bn``,
    ``post_relu``) precedes pooling. ``width_multiplier`` scales the growth
    rate.

    Args:
        spec: The architecture.
        name: Model name.

    Returns:
        A Functional ``keras.Model``.
    """
    norm = {"normalization": normalization}
    growth = blocks.scaled(spec.growth_rate, width_multiplier)

    def stack(x):
        x = blocks.cifar_stem(x, 2 * growth, normalize=False, **norm)
        for index, count in enumerate(spec.blocks, start=1):
            x = blocks.dense_block(
                x,
                growth,
                count,
                name=f"stage{index}",
                bottleneck_width=spec.bottleneck_factor * growth,
                **norm,
            )
            if index < len(spec.blocks):
                filters = math.floor(x.shape[-1] * spec.compression)
                x = blocks.transition_block(
                    x, filters, name=f"transition{index}", **norm
                )
        return blocks.bn_relu(x, name="post", **norm)

    return assemble(stack, name=name, **options)


@register_model(
    description="DenseNet-BC-121 for 32x32 inputs (growth 32, 6/12/24/16)",
    family="densenet",
)
@builder(without=("use_skip",))
def densenet121(**options) -> keras.Model:
    """DenseNet-121 for CIFAR: growth rate 32, dense blocks 6/12/24/16.

    A bare 3x3/64 stem (no 7x7 conv or max-pool on 32x32 inputs), four dense
    blocks of BN-ReLU-1x1 conv (128)-BN-ReLU-3x3 conv (32) layers, each
    concatenated to its input, transitions with compression 0.5 and 2x2
    average pooling, and a final BN-ReLU. With 10 classes it has 6,956,298
    trainable parameters, the count of the widely used PyTorch CIFAR
    DenseNet121 (which appends the new channels before, rather than after,
    the input channels: the same network up to a channel permutation).
    ``width_multiplier`` scales the growth rate.
    """
    return build_densenet(DENSENET121, **options)

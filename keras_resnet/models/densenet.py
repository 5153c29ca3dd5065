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
from keras_resnet.models._factory import assemble, validate_positive
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


def _densenet(
    spec: DenseNetSpec,
    *,
    width_multiplier: float = 1.0,
    normalization: str = "batch",
    name: str,
    **common,
) -> keras.Model:
    """Build ``spec`` through the shared factory (see ``assemble``).

    The stem is a bare 3x3 convolution to twice the growth rate; dense block
    ``i`` is stage ``i``; transitions (``transition1`` ...) compress and
    halve the resolution between them; a BN-ReLU (``post_bn``,
    ``post_relu``) precedes pooling. ``width_multiplier`` scales the growth
    rate.
    """
    validate_positive(width_multiplier, "width_multiplier")
    blocks.check_normalization(normalization)
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

    return assemble(stack, name=name, **common)


@register_model(
    "densenet121",
    description="DenseNet-BC-121 for 32x32 inputs (growth 32, 6/12/24/16)",
    family="densenet",
)
def densenet121(
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
    name: str = "densenet121",
) -> keras.Model:
    """DenseNet-121 for CIFAR: growth rate 32, dense blocks 6/12/24/16.

    A bare 3x3/64 stem (no 7x7 conv or max-pool on 32x32 inputs), four dense
    blocks of BN-ReLU-1x1 conv (128)-BN-ReLU-3x3 conv (32) layers, each
    concatenated to its input, transitions with compression 0.5 and 2x2
    average pooling, and a final BN-ReLU. With 10 classes it has 6,956,298
    trainable parameters, the count of the widely used PyTorch CIFAR
    DenseNet121 (which appends the new channels before, rather than after,
    the input channels: the same network up to a channel permutation).

    Args:
        include_top: Whether to include the pooling + dense classifier.
        input_shape: ``(height, width, channels)``, default ``(32, 32, 3)``.
        input_tensor: Optional Keras tensor to use as input.
        pooling: Without the top: None, ``"avg"`` or ``"max"``.
        num_classes: Number of classes.
        classifier_activation: Activation of the output (None for logits).
        width_multiplier: Scales the growth rate (and so every width).
        normalization: ``"batch"`` (default) or ``"none"``: no
            BatchNormalization layer (each BN-ReLU becomes a ReLU), every
            convolution with a bias, He-normal kernels either way (see
            ``keras_resnet.models.resnet18``).
        weights: None or the path of a weights file.
        name: Model name.

    Returns:
        A ``keras.Model``.
    """
    return _densenet(DENSENET121, **locals())

"""ResNeXt for CIFAR: bottleneck blocks with grouped 3x3 convolutions.

Xie et al. (2017, "Aggregated Residual Transformations for Deep Neural
Networks") split the 3x3 convolution of a bottleneck into ``cardinality``
groups. The block is ``blocks.bottleneck_block`` with ``groups`` set, so a
ResNeXt is just another ``ResNetSpec``.
"""

from __future__ import annotations

import keras

from keras_resnet.models.registry import register_model
from keras_resnet.models.resnet import ResNetSpec, _resnet


def resnext29_spec(cardinality: int, bottleneck_width: int) -> ResNetSpec:
    """ResNeXt-29 (3 stages of 3 blocks): ``cardinality`` x ``bottleneck_width``d.

    The grouped width of stage ``i`` is ``cardinality * bottleneck_width *
    2**(i-1)`` and each block expands it by 2, as in the paper's CIFAR nets.
    """
    group_width = cardinality * bottleneck_width
    return ResNetSpec(
        64,
        "bottleneck",
        (group_width, 2 * group_width, 4 * group_width),
        (3, 3, 3),
        (1, 2, 2),
        block_kwargs=(("expansion", 2), ("groups", cardinality)),
        stem_kernel_size=1,
    )


@register_model(
    "resnext29_2x64d",
    description="ResNeXt-29 2x64d (grouped bottlenecks, cardinality 2, 3/3/3)",
    family="resnext",
    has_skip=True,
)
def resnext29_2x64d(
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
    name: str = "resnext29_2x64d",
) -> keras.Model:
    """ResNeXt-29 with cardinality 2 and bottleneck width 64.

    A 1x1/64 conv-BN-ReLU stem (as in the widely used PyTorch CIFAR
    ResNeXt29), then three stages of three bottleneck blocks whose 3x3
    convolution has 2 groups; grouped widths 128/256/512, outputs
    256/512/1024, strides 1/2/2 on the 3x3 convolution. With 10 classes it
    has 9,128,778 trainable parameters. ``width_multiplier`` rounds the
    grouped widths to a multiple of the cardinality.

    Args:
        include_top: Whether to include the pooling + dense classifier.
        input_shape: ``(height, width, channels)``, default ``(32, 32, 3)``.
        input_tensor: Optional Keras tensor to use as input.
        pooling: Without the top: None, ``"avg"`` or ``"max"``.
        num_classes: Number of classes.
        classifier_activation: Activation of the output (None for logits).
        width_multiplier: Scales every layer's filters.
        use_skip: False removes every shortcut, projection and ``Add``.
        normalization: ``"batch"`` (default) or ``"none"``: no
            BatchNormalization layer, every convolution with a bias (see
            ``keras_resnet.models.resnet18``).
        weights: None or the path of a weights file.
        name: Model name.

    Returns:
        A ``keras.Model``.
    """
    return _resnet(resnext29_spec(2, 64), **locals())

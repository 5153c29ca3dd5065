"""ResNeXt for CIFAR: bottleneck blocks with grouped 3x3 convolutions.

Xie et al. (2017, "Aggregated Residual Transformations for Deep Neural
Networks") split the 3x3 convolution of a bottleneck into ``cardinality``
groups. The block is ``blocks.bottleneck_block`` with ``groups`` set, so a
ResNeXt is just another ``ResNetSpec``.
"""

from __future__ import annotations

import keras

from keras_resnet.models.builder import builder
from keras_resnet.models.registry import register_model
from keras_resnet.models.resnet import ResNetSpec, build_resnet


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
    description="ResNeXt-29 2x64d (grouped bottlenecks, cardinality 2, 3/3/3)",
    family="resnext",
)
@builder()
def resnext29_2x64d(**options) -> keras.Model:
    """ResNeXt-29 with cardinality 2 and bottleneck width 64.

    A 1x1/64 conv-BN-ReLU stem (as in the widely used PyTorch CIFAR
    ResNeXt29), then three stages of three bottleneck blocks whose 3x3
    convolution has 2 groups; grouped widths 128/256/512, outputs
    256/512/1024, strides 1/2/2 on the 3x3 convolution. With 10 classes it
    has 9,128,778 trainable parameters. ``width_multiplier`` rounds the
    grouped widths to a multiple of the cardinality.
    """
    return build_resnet(resnext29_spec(2, 64), **options)

"""The study's baseline: a VGG-16-style plain CNN for 32x32 inputs."""

from __future__ import annotations

import keras
from keras import layers

from keras_resnet._validation import fail
from keras_resnet.models import blocks
from keras_resnet.models.builder import assemble, builder
from keras_resnet.models.registry import register_model

# Filters per stage; each stage ends in a 2x2 max-pool (VGG-16, config "D").
VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


@register_model(
    description="Traditional deep CNN: VGG-16-style, 13 conv-BN-ReLU, no skips",
    family="plain",
)
@builder(without=("use_skip",))
def baseline_cnn(
    *, batch_norm: bool = True, width_multiplier, normalization, **options
) -> keras.Model:
    """VGG-16-style plain CNN: 13 3x3 conv(-BN)-ReLU layers, 5 max-pools.

    Convolutions keep their bias, as in the usual PyTorch CIFAR VGG16. With
    10 classes and ``batch_norm=True`` the model has 14,728,266 trainable
    parameters: conv kernels and biases (14,714,688), BN gamma and beta
    (8,448) and the 512x10 classifier (5,130); BN moving statistics are
    extra (14,719,818 with ``normalization="none"``). The head is global
    average pooling then dense, which on 32x32 inputs (a 1x1 map after five
    pools) equals the usual flatten. BN is used only with both
    ``batch_norm=True`` and ``normalization="batch"``.

    Args:
        batch_norm: Whether every convolution is followed by BN; False is
            the older spelling of ``normalization="none"``.
    """
    if not isinstance(batch_norm, bool):
        fail("batch_norm", batch_norm, "must be True or False")

    def stack(x):
        for stage_index, stage_filters in enumerate(VGG16_STAGES, start=1):
            for conv_index, filters in enumerate(stage_filters, start=1):
                x = blocks.conv_bn_act(
                    x,
                    blocks.scaled(filters, width_multiplier),
                    name=f"stage{stage_index}_conv{conv_index}",
                    use_bias=True,
                    batch_norm=batch_norm,
                    normalization=normalization,
                )
            x = layers.MaxPooling2D(2, name=f"stage{stage_index}_pool")(x)
        return x

    return assemble(stack, **options)

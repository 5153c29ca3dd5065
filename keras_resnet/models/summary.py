"""Model statistics: trainable parameters, FLOPs per image and depth.

Computed from the layers of a built model, so they work on every backend
and for every registered model without per-model bookkeeping.
"""

from __future__ import annotations

import math

import keras


def iter_layers(model: keras.Model):
    """All leaf layers of ``model`` in depth order (nested models flattened)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from iter_layers(layer)
        else:
            yield layer


def count_trainable_params(model: keras.Model) -> int:
    """Number of trainable parameters (BN moving statistics excluded)."""
    return int(sum(math.prod(v.shape) for v in model.trainable_weights))


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates for one image through conv and dense layers.

    Requires static spatial dimensions (a fixed ``input_shape``).
    """
    total = 0
    for layer in iter_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            kernel_h, kernel_w, in_per_group, out_channels = layer.kernel.shape
            _, out_h, out_w, _ = layer.output.shape
            total += kernel_h * kernel_w * in_per_group * out_channels * out_h * out_w
        elif isinstance(layer, keras.layers.Dense):
            total += math.prod(layer.kernel.shape)
    return int(total)


def count_flops(model: keras.Model) -> int:
    """FLOPs for one image, counting a multiply-accumulate as two FLOPs."""
    return 2 * count_macs(model)


def count_depth(model: keras.Model) -> int:
    """Weighted layers on the longest path: convolutions (shortcut projections
    excluded) and dense layers, the convention behind "ResNet-18"."""
    return sum(
        1
        for layer in iter_layers(model)
        if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense)
        and "shortcut" not in layer.name
    )

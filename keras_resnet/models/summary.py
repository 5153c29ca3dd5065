"""Model statistics: trainable parameters, FLOPs per image and depth.

Computed from the layers of a built model, so they work on every backend
and for every registered model without per-model bookkeeping. ``measure``
builds every registered model and describes it; its output, printed by::

    python -m keras_resnet.models.summary

is the keras-free ``keras_resnet.models.catalog.CATALOG``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import keras

from keras_resnet.models.catalog import (
    BUILDER_ARGUMENTS,
    INPUT_SHAPE,
    NUM_CLASSES,
    WIDTH_MULTIPLIER,
    CatalogEntry,
    name_depth,
)


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


def measure(
    names: Iterable[str] | None = None,
    *,
    width_multiplier: float = WIDTH_MULTIPLIER,
    num_classes: int = NUM_CLASSES,
) -> dict[str, CatalogEntry]:
    """Build each model on 32x32x3 inputs and describe it.

    Imports Keras; at the defaults, all models take about 15-30 s on two CPU
    cores (no weights are initialized: only shapes are counted). Generates
    and tests ``CATALOG``, and serves ``keras-resnet models`` for other
    arguments.

    Args:
        names: Registered model names (default: all).
        width_multiplier: Passed to each builder.
        num_classes: Passed to each builder.
    """
    from keras_resnet.models.registry import (
        build_model,
        builder_arguments,
        get_model_info,
        list_models,
    )

    entries = {}
    for name in list_models() if names is None else names:
        info = get_model_info(name)
        # Counting needs shapes, not values: in a stateless scope Keras
        # leaves the variables uninitialized (no initializer runs).
        with keras.StatelessScope():
            model = build_model(
                name,
                input_shape=INPUT_SHAPE,
                width_multiplier=width_multiplier,
                num_classes=num_classes,
            )
        layers = count_depth(model)
        entries[name] = CatalogEntry(
            family=info.family,
            has_skip=info.has_skip,
            params=count_trainable_params(model),
            flops=count_flops(model),
            depth=name_depth(name) or layers,
            layers=layers,
            description=info.description,
            options=_options(builder_arguments(name)),
        )
        del model
        keras.backend.clear_session()
    return entries


def _options(arguments: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The arguments beyond ``BUILDER_ARGUMENTS`` (a builder lacking one of
    those is not described by a catalog entry: test_catalog checks)."""
    if arguments is None:
        return None
    return tuple(name for name in arguments if name not in BUILDER_ARGUMENTS)


def _source(entries: Mapping[str, CatalogEntry]) -> str:
    lines = ["CATALOG: dict[str, CatalogEntry] = {"]
    for name, entry in entries.items():
        lines.append(f"    {name!r}: {entry!r},")
    lines.append("}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(_source(measure()))

"""``keras-resnet models``: the registered models and their size."""

from __future__ import annotations

import json

import click

from keras_resnet.cli.output import format_count, format_table

EPILOG = """\b
Examples:
  keras-resnet models
  keras-resnet models --width-multiplier 0.5 --num-classes 100
  keras-resnet models --json
"""


@click.command(epilog=EPILOG)
@click.option(
    "--width-multiplier",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Scale every layer's filters.",
)
@click.option(
    "--num-classes",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Classifier outputs.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models(width_multiplier: float, num_classes: int, as_json: bool) -> None:
    """List every registered model with its parameters, FLOPs and depth.

    Each model is built once on 32x32x3 inputs. FLOPs count one
    multiply-accumulate as two; depth counts weighted layers on the longest
    path (shortcut projections excluded).
    """
    rows = [
        describe_model(name, width_multiplier=width_multiplier, num_classes=num_classes)
        for name in _registered()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = [
        (
            row["name"],
            format_count(row["params"]),
            format_count(row["flops"]),
            row["depth"],
            row["description"],
        )
        for row in rows
    ]
    headers = ("model", "params", "FLOPs/image", "depth", "description")
    click.echo(format_table(headers, table))


def _registered() -> list[str]:
    from keras_resnet.models import list_models

    return list_models()


def describe_model(name: str, *, width_multiplier: float = 1.0, num_classes: int = 10):
    """Parameters, FLOPs per 32x32 image, depth and description of ``name``.

    Returns:
        A dict with ``name``, ``params``, ``flops``, ``depth``, ``family``,
        ``description``.
    """
    import keras

    from keras_resnet.models import (
        build_model,
        count_depth,
        count_flops,
        count_trainable_params,
        get_model_info,
    )

    info = get_model_info(name)
    model = build_model(
        name,
        input_shape=(32, 32, 3),
        width_multiplier=width_multiplier,
        num_classes=num_classes,
    )
    row = {
        "name": name,
        "params": count_trainable_params(model),
        "flops": count_flops(model),
        "depth": count_depth(model),
        "family": info.family,
        "description": info.description,
    }
    del model
    keras.backend.clear_session()
    return row

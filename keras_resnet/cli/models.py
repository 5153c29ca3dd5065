"""``keras-resnet models``: the registered models and their size."""

from __future__ import annotations

import json

import click

from keras_resnet.cli.output import (
    format_count,
    format_table,
    known_models,
    terminal_width,
)

EPILOG = """\b
Examples:
  keras-resnet models
  keras-resnet models 'resnet*'
  keras-resnet models --family wide-resnet
  keras-resnet models '*18*' --width-multiplier 0.5 --num-classes 100
  keras-resnet models --json

\b
Depth is the depth in the model's name (WRN-28-10: 28), or the weighted
layers on the longest path for a name without one. The two agree except
for the wide ResNets, whose names count all their convolutions, the three
1x1 shortcut projections included, and not the classifier; --json gives
both ('depth' and 'layers').
"""


def _family_choice() -> click.Choice:
    from keras_resnet.models.catalog import families

    return click.Choice(families())


@click.command(epilog=EPILOG)
@click.argument("patterns", nargs=-1, metavar="[PATTERN]...")
@click.option(
    "--family",
    type=_family_choice(),
    help="Only this family of models.",
)
@click.option(
    "--width-multiplier",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Scale every layer's filters (other than 1: builds each model).",
)
@click.option(
    "--num-classes",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Classifier outputs (other than 10: builds each model).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models(
    patterns: tuple[str, ...],
    family: str | None,
    width_multiplier: float,
    num_classes: int,
    as_json: bool,
) -> None:
    """List the registered models: parameters, FLOPs, depth, pretrained weights.

    PATTERN is a shell-style pattern matched against the whole name
    ('resnet*', '*18*'; quote it); with several, a model matching any is
    listed. The same filter is keras_resnet.list_models(pattern, family).

    Counts are for 32x32x3 inputs; FLOPs count one multiply-accumulate as
    two. For the default width and classes they are read from the registry's
    catalog at once; other values build each model (seconds per model).
    The weights column names the model's pretrained weights ('-': none),
    for evaluate and predict --weights NAME or build_model(..., weights=NAME).
    """
    names = _select(patterns, family)
    rows = [
        describe_model(name, width_multiplier=width_multiplier, num_classes=num_classes)
        for name in names
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
            ",".join(row["weights"]) or "-",
            row["description"],
        )
        for row in rows
    ]
    headers = ("model", "params", "FLOPs", "depth", "weights", "description")
    click.echo(format_table(headers, table, width=terminal_width()))


def _select(patterns: tuple[str, ...], family: str | None) -> list[str]:
    """The known models matching ``patterns`` and ``family``; none is an error."""
    from keras_resnet.models.catalog import CATALOG, filter_models

    family_of = {name: _entry_family(name, CATALOG) for name in known_models()}
    names = filter_models(family_of, list(patterns) or None, family)
    if not names:
        wanted = " or ".join(repr(p) for p in patterns) or "any name"
        where = f" in family {family!r}" if family else ""
        raise click.ClickException(
            f"no model matches {wanted}{where}; known models: "
            f"{', '.join(sorted(family_of))}"
        )
    return names


def _entry_family(name: str, catalog) -> str:
    if name in catalog:
        return catalog[name].family
    from keras_resnet.models import get_model_info  # registered in this process

    return get_model_info(name).family


def describe_model(name: str, *, width_multiplier: float = 1.0, num_classes: int = 10):
    """Parameters, FLOPs per 32x32 image, depth and description of ``name``.

    Read from ``keras_resnet.models.catalog`` for the default arguments,
    otherwise counted on the built model.

    Returns:
        A dict with ``name``, ``params``, ``flops``, ``depth`` (as the name
        counts it), ``layers`` (weighted layers on the longest path),
        ``family``, ``description`` and ``weights`` (the names of its
        pretrained weights, for ``--weights`` and ``weights=``).
    """
    from keras_resnet.models import catalog

    entry = catalog.CATALOG.get(name)
    defaults = (width_multiplier, num_classes) == (
        catalog.WIDTH_MULTIPLIER,
        catalog.NUM_CLASSES,
    )
    if entry is None or not defaults:
        from keras_resnet.models.summary import measure

        entry = measure(
            [name], width_multiplier=width_multiplier, num_classes=num_classes
        )[name]
    return {
        "name": name,
        "params": entry.params,
        "flops": entry.flops,
        "depth": entry.depth,
        "layers": entry.layers,
        "family": entry.family,
        "description": entry.description,
        "weights": catalog.weights_choices(name),
    }

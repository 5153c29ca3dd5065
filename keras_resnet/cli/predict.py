"""``keras-resnet predict``: top-k classes of image files."""

from __future__ import annotations

import json

import click
import numpy as np

EPILOG = """\b
Examples:
  keras-resnet predict runs/resnet18-20261125-101500 cat.png
  keras-resnet predict runs/resnet18-20261125-101500/best.keras *.jpg --top-k 3
  keras-resnet predict exported/resnet18 dog.jpg --json
  keras-resnet predict mini_resnet --weights cifar10 cat.png
"""

WEIGHTS_HELP = (
    "Use the model's pretrained weights of this name, shipped with the "
    "package; the first argument is then a registered model name (e.g. "
    "mini_resnet), not a path."
)


def weights_option(function):
    """The ``--weights NAME`` option of evaluate and predict."""
    return click.option("--weights", metavar="NAME", help=WEIGHTS_HELP)(function)


def check_model_path(ctx: click.Context, argument: str, value: str, weights) -> None:
    """Without --weights, the path argument must exist (a usage error, exit 2).

    With --weights the argument is a model name, checked by the library.
    """
    if weights is None:
        param = next(p for p in ctx.command.params if p.name == argument)
        click.Path(exists=True).convert(value, param, ctx)


@click.command(epilog=EPILOG)
@click.argument("model")
@click.argument(
    "images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False)
)
@weights_option
@click.option(
    "--top-k",
    "-k",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Classes to show per image (at most the number of classes).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def predict(
    model: str,
    images: tuple[str, ...],
    weights: str | None,
    top_k: int,
    as_json: bool,
) -> None:
    """Classify IMAGE files with MODEL.

    MODEL is a run directory, a .keras file or an exported SavedModel
    directory; with --weights, a registered model name (its pretrained
    weights and class names). Images of any size are resized to the
    model's input size; 16-bit images are scaled to 8 bits, and an image
    over the decompression-bomb limit
    (keras_resnet.data.images.MAX_IMAGE_PIXELS) is refused.
    """
    check_model_path(click.get_current_context(), "model", model, weights)
    from keras_resnet.data import read_image

    # Read every image first: a bad file (unreadable, or over the
    # decompression-bomb limit) is reported by name before the model loads,
    # and before Keras and its backend start (seconds).
    pixels = {path: read_image(path) for path in images}
    from keras_resnet.inference import load_predictor, load_pretrained_predictor

    if weights is None:
        predictor = load_predictor(model)
    else:
        predictor = load_pretrained_predictor(model, weights)
    results = {
        path: top_classes(
            predictor.predict(array[None])[0], predictor.class_names, top_k
        )
        for path, array in pixels.items()
    }
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    for path, classes in results.items():
        click.echo(path)
        for entry in classes:
            click.echo(f"  {entry['probability']:.4f}  {entry['class']}")


def top_classes(probabilities, class_names: list[str], k: int) -> list[dict]:
    """The ``k`` most probable classes, most probable first."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [
        {"class": class_names[i], "probability": float(probabilities[i])} for i in order
    ]

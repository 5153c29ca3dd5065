"""``keras-resnet export``: a thin command over ``keras_resnet.export``."""

from __future__ import annotations

import click

# Light: keras_resnet.export imports Keras and TensorFlow only when exporting.
from keras_resnet.export import FORMATS

EPILOG = """\b
Examples:
  keras-resnet export runs/resnet18-20261125-101500 serving/cifar --version 1
  keras-resnet export runs/resnet18-20261125-101500 export/onnx --format onnx
  keras-resnet export best.keras export/keras --format keras --overwrite

\b
The SavedModel signature serving_default takes `images`, uint8
[batch, height, width, 3] of any size, and returns float32 `probabilities`,
int64 `class_id` and string `class_name`. With --version N the export goes to
OUTPUT/N/, the layout TF Serving watches (see docs/export.md). saved_model
works on the TensorFlow and the JAX backend (KERAS_BACKEND=jax; TensorFlow
must be installed), onnx on the TensorFlow backend.
"""


@click.command(epilog=EPILOG)
@click.argument("source", type=click.Path(exists=True))
@click.argument("output", type=click.Path(file_okay=False))
@click.option(
    "--format",
    "format_",
    type=click.Choice(FORMATS),
    default="saved_model",
    show_default=True,
    help="Export format (onnx needs the onnx extra and the TensorFlow backend).",
)
@click.option(
    "--version",
    type=click.IntRange(min=0),
    default=None,
    help="Write the TF Serving layout OUTPUT/N/ (saved_model only).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace an existing non-empty target (never one that is, contains or "
    "lies inside SOURCE).",
)
@click.pass_context
def export(
    ctx: click.Context,
    source: str,
    output: str,
    format_: str,
    version: int | None,
    overwrite: bool,
) -> None:
    """Export SOURCE (a run directory, .keras file or SavedModel) to OUTPUT.

    The export is written to a temporary folder beside OUTPUT and moved into
    place when complete, with permissions 0755/0644 under umask 022. The
    classifier is exported without augmentation layers; resizing and
    normalization are inside the exported graph. A SavedModel SOURCE can
    only be copied as saved_model (for example into a new --version).
    """
    from keras_resnet.cli import cli_message
    from keras_resnet.cli.progress import elapsed_display
    from keras_resnet.errors import KerasResNetError
    from keras_resnet.export import export_model

    try:
        with elapsed_display(f"Exporting {source} as {format_}..."):
            path = export_model(
                source, output, format=format_, version=version, overwrite=overwrite
            )
    except (KerasResNetError, ValueError) as error:
        if ctx.find_root().meta.get("keras_resnet.debug"):
            raise
        raise click.ClickException(cli_message(" ".join(str(error).split()))) from None
    click.echo(f"Exported {format_} to {path}")

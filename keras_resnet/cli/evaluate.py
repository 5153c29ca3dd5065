"""``keras-resnet evaluate``: accuracy of a run, a ``.keras`` file or a SavedModel."""

from __future__ import annotations

import json

import click

from keras_resnet.cli.output import format_table

EPILOG = """\b
Examples:
  keras-resnet evaluate runs/resnet18-20261125-101500
  keras-resnet evaluate runs/resnet18-20261125-101500/best.keras
  keras-resnet evaluate model.keras --dataset cifar10 --split test
  keras-resnet evaluate serving/cifar --dataset cifar10
  keras-resnet evaluate runs/resnet18-20261125-101500 --json
"""


@click.command(epilog=EPILOG)
@click.argument(
    "target", metavar="RUN_DIR|MODEL_FILE|SAVED_MODEL", type=click.Path(exists=True)
)
@click.option(
    "--dataset",
    metavar="NAME|PATH",
    help="Data source (as for fit). [default: the run's dataset]",
)
@click.option(
    "--split",
    type=click.Choice(("test", "validation", "train")),
    default="test",
    show_default=True,
    help="Which split to evaluate on.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Evaluation batch size.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def evaluate(
    target: str, dataset: str | None, split: str, batch_size: int, as_json: bool
) -> None:
    """Evaluate RUN_DIR (its model.keras), MODEL_FILE or SAVED_MODEL on a split.

    Prints accuracy, loss and a per-class accuracy table. A .keras file
    outside a run directory, and a SavedModel from `keras-resnet export`,
    need --dataset; the dataset must have as many classes as the model.
    """
    from keras_resnet.train import evaluate as evaluate_model

    result = evaluate_model(target, dataset=dataset, split=split, batch_size=batch_size)
    report = evaluation_report(result)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(format_report(target, split, report))


def evaluation_report(result) -> dict:
    """``accuracy``, ``loss`` and ``per_class_accuracy`` of an evaluation."""
    return {
        "accuracy": float(result["accuracy"]),
        "loss": float(result["loss"]),
        "per_class_accuracy": {
            str(name): float(value)
            for name, value in result["per_class_accuracy"].items()
        },
    }


def format_report(target: str, split: str, report: dict) -> str:
    """Accuracy and loss, then one row per class."""
    rows = [
        (name, f"{accuracy:.4f}")
        for name, accuracy in report["per_class_accuracy"].items()
    ]
    return "\n".join(
        [
            f"{target} on the {split} split:",
            f"  accuracy {report['accuracy']:.4f}  loss {report['loss']:.4f}",
            "",
            format_table(("class", "accuracy"), rows),
        ]
    )

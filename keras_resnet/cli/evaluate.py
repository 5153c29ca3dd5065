"""``keras-resnet evaluate``: accuracy of a run, a ``.keras`` file or a SavedModel."""

from __future__ import annotations

import json
import math

import click

from keras_resnet.cli.output import format_table, plural, terminal_width
from keras_resnet.cli.predict import check_model_path, weights_option
from keras_resnet.cli.progress import library_progress
from keras_resnet.train.evaluate import PRETRAINED_DATASET

# Confusions listed when the matrix does not fit the terminal.
_TOP_CONFUSIONS = 10

EPILOG = """\b
Examples:
  keras-resnet evaluate runs/resnet18-20261125-101500
  keras-resnet evaluate runs/resnet18-20261125-101500/best.keras
  keras-resnet evaluate model.keras --dataset cifar10 --split test
  keras-resnet evaluate serving/cifar --dataset cifar10
  keras-resnet evaluate runs/resnet18-20261125-101500 --json
  keras-resnet evaluate mini_resnet --weights cifar10
"""


@click.command(epilog=EPILOG)
@click.argument("target", metavar="RUN_DIR|MODEL_FILE|SAVED_MODEL")
@weights_option
@click.option(
    "--dataset",
    metavar="NAME|PATH",
    help="Data source (as for fit). [default: the run's dataset; with "
    f"--weights, {PRETRAINED_DATASET}]",
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
    target: str,
    weights: str | None,
    dataset: str | None,
    split: str,
    batch_size: int,
    as_json: bool,
) -> None:
    """Evaluate RUN_DIR (its model.keras), MODEL_FILE or SAVED_MODEL on a split.

    Prints accuracy, loss (and top-5 accuracy with more than 10 classes), a
    per-class accuracy table and the confusion matrix (rows: true class,
    columns: predicted class; with too many classes to fit the terminal,
    the most frequent confusions instead). --json holds the whole matrix.
    A .keras file outside a run directory, and a SavedModel from
    `keras-resnet export`, need --dataset; the dataset must have as many
    classes as the model. With --weights NAME, the first argument is a
    registered model name (e.g. mini_resnet) evaluated with its pretrained
    weights NAME; the dataset must have their class names.
    """
    check_model_path(click.get_current_context(), "target", target, weights)
    from keras_resnet.train import evaluate as evaluate_model

    with library_progress():
        result = evaluate_model(
            target,
            dataset=dataset,
            split=split,
            batch_size=batch_size,
            weights=weights,
        )
    report = evaluation_report(result)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        label = target if weights is None else f"{target} --weights {weights}"
        click.echo(format_report(label, split, report, width=terminal_width()))


def evaluation_report(result) -> dict:
    """The JSON report of an evaluation.

    Keys: ``accuracy``, ``top5_accuracy`` (more than 10 classes only),
    ``loss``, ``num_examples``, ``per_class_accuracy`` (class -> accuracy,
    null for a class without examples), ``class_names`` and
    ``confusion_matrix`` (rows: true class, columns: predicted class).
    """
    report = {"accuracy": float(result["accuracy"])}
    if result.get("top5_accuracy") is not None:
        report["top5_accuracy"] = float(result["top5_accuracy"])
    report["loss"] = float(result["loss"])
    report["num_examples"] = int(result["num_examples"])
    report["per_class_accuracy"] = {
        str(name): None if math.isnan(value) else float(value)
        for name, value in result["per_class_accuracy"].items()
    }
    report["class_names"] = [str(name) for name in result["class_names"]]
    report["confusion_matrix"] = [
        [int(count) for count in row] for row in result["confusion_matrix"]
    ]
    return report


def format_report(target: str, split: str, report: dict, *, width: int = 80) -> str:
    """Accuracy and loss, one row per class, then the confusion matrix."""
    scores = f"  accuracy {report['accuracy']:.4f}"
    if "top5_accuracy" in report:
        scores += f"  top-5 {report['top5_accuracy']:.4f}"
    scores += f"  loss {report['loss']:.4f}"
    rows = [
        (name, "-" if accuracy is None else f"{accuracy:.4f}")
        for name, accuracy in report["per_class_accuracy"].items()
    ]
    return "\n".join(
        [
            f"{target} on the {split} split "
            f"({plural(report['num_examples'], 'image')}):",
            scores,
            "",
            format_table(("class", "accuracy"), rows),
            "",
            format_confusion(report["class_names"], report["confusion_matrix"], width),
        ]
    )


def format_confusion(
    class_names: list[str], matrix: list[list[int]], width: int
) -> str:
    """The confusion matrix if it fits ``width`` columns, else its top cells.

    The matrix's columns are numbered; row ``i`` is labelled ``i name``.
    """
    count = len(class_names)
    cell = max(len(str(count - 1)), *(len(str(v)) for row in matrix for v in row))
    labels = [f"{index} {name}" for index, name in enumerate(class_names)]
    label_width = max(len(label) for label in labels)
    if label_width + count * (cell + 1) <= width:
        header = " " * label_width + "".join(
            f" {index:>{cell}}" for index in range(count)
        )
        lines = ["Confusion matrix (rows: true class, columns: predicted):", header]
        for label, row in zip(labels, matrix, strict=True):
            cells = "".join(f" {value:>{cell}}" for value in row)
            lines.append(f"{label:<{label_width}}{cells}")
        return "\n".join(lines)
    confused = sorted(
        (
            (matrix[true][predicted], true, predicted)
            for true in range(count)
            for predicted in range(count)
            if true != predicted and matrix[true][predicted]
        ),
        key=lambda item: (-item[0], item[1], item[2]),
    )[:_TOP_CONFUSIONS]
    lines = [
        f"Most frequent confusions ({count} classes; --json has the whole matrix):"
    ]
    lines += [
        f"  {class_names[true]} -> {class_names[predicted]}: {plural(number, 'image')}"
        for number, true, predicted in confused
    ] or ["  none"]
    return "\n".join(lines)

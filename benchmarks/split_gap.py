"""Where a model's validation-test gap comes from: near-duplicates or not.

Every ResNet-20 run on the shared CIFAR-10 copy scored 1.6-2 points higher
on its validation images (5,000 held out of the training archive) than on
the 10,000 test images. One known cause of such a gap is near-duplicates:
CIFAR-10's test images have near-copies in its training images (Barz &
Denzler, "Do we train on test data?", 2020), and a validation split drawn
from the training images can have more of them, which makes it easier.

This script measures that for one model and the splits of one run
configuration. For every validation and test image it finds the most
similar training image (cosine similarity of the mean-removed pixels:
1.0 for a copy, a brightness or contrast change included) and reports:

- the accuracy of each split, with its binomial standard error;
- the share of each split with a near-duplicate in the training images at
  similarity thresholds 0.90, 0.95 and 0.98, and the accuracy without them;
- the accuracy of each split in five bins of that similarity (edges at the
  quintiles of both splits pooled), so the gap can be read at equal
  similarity to the training images;
- the accuracy of each class in each split.

If near-duplicates made the validation split easier, it would have more of
them, and the gap would shrink without them and within the bins.

Usage::

    python benchmarks/split_gap.py mini_resnet:cifar10 \\
        --config configs/reference/resnet20_cifar10_long.yaml
    python benchmarks/split_gap.py RUN_DIR      # the run's own config.yaml

MODEL is a run directory, a ``.keras`` file, or ``mini_resnet:cifar10``
(the pretrained weights shipped with the package). The splits are the
configuration's (``load_splits``: the same held-out images as the run).
Writes a JSON (default ``benchmarks/results/split_gap-<date>.json``) and
prints a table.
"""

from __future__ import annotations

import argparse
import datetime
import math
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import _common  # noqa: E402

THRESHOLDS = (0.90, 0.95, 0.98)
BINS = 5
SPLITS = ("validation", "test")


def features(images: np.ndarray) -> np.ndarray:
    """Mean-removed, unit-length float32 pixel vectors, one row per image."""
    rows = images.reshape(len(images), -1).astype(np.float32)
    rows -= rows.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-6)


def nearest(queries: np.ndarray, reference: np.ndarray, chunk: int = 5000):
    """For each row of ``queries`` (from ``features``), the largest cosine
    similarity to a row of ``reference`` and that row's index."""
    best = np.full(len(queries), -np.inf, np.float32)
    index = np.zeros(len(queries), np.int64)
    rows = np.arange(len(queries))
    for start in range(0, len(reference), chunk):
        similarity = queries @ reference[start : start + chunk].T
        top = similarity.argmax(axis=1)
        value = similarity[rows, top]
        better = value > best
        best[better] = value[better]
        index[better] = top[better] + start
    return best, index


def accuracy(correct: np.ndarray) -> dict:
    """Accuracy of a boolean array with its binomial standard error."""
    n = int(correct.size)
    value = float(correct.mean()) if n else float("nan")
    error = math.sqrt(value * (1 - value) / n) if n else float("nan")
    return {"n": n, "accuracy": value, "standard_error": error}


def measure(
    correct: dict, similarity: dict, same_label: dict, labels: dict, class_names
) -> dict:
    """The report, from per-split arrays: ``correct`` (bool), ``similarity``
    to the nearest training image, ``same_label`` (whether that image has
    the same label) and ``labels``."""
    overall = {split: accuracy(correct[split]) for split in SPLITS}
    gap = overall["validation"]["accuracy"] - overall["test"]["accuracy"]
    gap_error = math.hypot(*(overall[s]["standard_error"] for s in SPLITS))
    duplicates = []
    for threshold in THRESHOLDS:
        row = {"threshold": threshold}
        for split in SPLITS:
            near = similarity[split] > threshold
            row[split] = {
                "share": float(near.mean()),
                "share_same_label": float((near & same_label[split]).mean()),
                "accuracy_on_them": accuracy(correct[split][near])["accuracy"],
                "accuracy_without": accuracy(correct[split][~near]),
            }
        duplicates.append(row)
    pooled = np.concatenate([similarity[split] for split in SPLITS])
    edges = np.quantile(pooled, np.linspace(0, 1, BINS + 1))
    bins = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        row = {"low": float(low), "high": float(high)}
        for split in SPLITS:
            inside = (similarity[split] >= low) & (similarity[split] <= high)
            row[split] = accuracy(correct[split][inside])
        bins.append(row)
    per_class = {
        name: {
            split: accuracy(correct[split][labels[split] == index])["accuracy"]
            for split in SPLITS
        }
        for index, name in enumerate(class_names)
    }
    return {
        "accuracy": overall,
        "gap": gap,
        "gap_standard_error": gap_error,
        "median_similarity": {
            split: float(np.median(similarity[split])) for split in SPLITS
        },
        "duplicates": duplicates,
        "similarity_bins": bins,
        "per_class": per_class,
    }


def table(result: dict) -> str:
    lines = []
    overall = result["accuracy"]
    lines.append(
        "accuracy: validation {:.2%} (n={}), test {:.2%} (n={}), gap {:+.2f} "
        "+- {:.2f} points".format(
            overall["validation"]["accuracy"],
            overall["validation"]["n"],
            overall["test"]["accuracy"],
            overall["test"]["n"],
            100 * result["gap"],
            100 * result["gap_standard_error"],
        )
    )
    rows = []
    for row in result["duplicates"]:
        v, t = row["validation"], row["test"]
        rows.append(
            [
                f"> {row['threshold']:.2f}",
                f"{v['share']:.2%}",
                f"{t['share']:.2%}",
                f"{v['accuracy_without']['accuracy']:.2%}",
                f"{t['accuracy_without']['accuracy']:.2%}",
            ]
        )
    lines.append(
        _common.format_table(
            ["similarity", "val share", "test share", "val acc w/o", "test acc w/o"],
            rows,
        )
    )
    rows = [
        [
            f"{row['low']:.3f}-{row['high']:.3f}",
            f"{row['validation']['accuracy']:.2%} ({row['validation']['n']})",
            f"{row['test']['accuracy']:.2%} ({row['test']['n']})",
        ]
        for row in result["similarity_bins"]
    ]
    lines.append(
        _common.format_table(["nearest-train bin", "validation", "test"], rows)
    )
    rows = [
        [name, f"{value['validation']:.1%}", f"{value['test']:.1%}"]
        for name, value in result["per_class"].items()
    ]
    lines.append(_common.format_table(["class", "validation", "test"], rows))
    return "\n\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="run directory, .keras file or model:weights")
    parser.add_argument(
        "--config",
        type=pathlib.Path,
        help="the run configuration whose splits to use (default: the run's)",
    )
    parser.add_argument("--dataset", help="in place of the configuration's dataset")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--out", type=pathlib.Path, help="JSON path")
    args = parser.parse_args(argv)
    config_path = args.config
    if config_path is None:
        config_path = pathlib.Path(args.model) / "config.yaml"
        if not config_path.is_file():
            parser.error(f"give --config: {args.model} is not a run directory")
    if not config_path.is_file():
        parser.error(f"no such configuration file: {config_path}")

    from keras_resnet.train.config import TrainConfig, load_splits

    config = TrainConfig.from_yaml(config_path)
    splits = load_splits(config, dataset=args.dataset)
    if splits.validation_size == 0:
        parser.error(f"{config_path} holds out no validation images")
    predictor = _common.load_predictor(args.model)
    if len(predictor.class_names) != splits.num_classes:
        parser.error(
            f"the model has {len(predictor.class_names)} classes, the data "
            f"{splits.num_classes}"
        )
    train_images, train_labels = splits.arrays["train"]
    reference = features(train_images)
    correct, similarity, same_label, labels = {}, {}, {}, {}
    for split in SPLITS:
        images, labels[split] = splits.arrays[split]
        probabilities = predictor.predict(images, batch_size=args.batch_size)
        correct[split] = np.argmax(probabilities, axis=-1) == labels[split]
        similarity[split], index = nearest(features(images), reference)
        same_label[split] = train_labels[index] == labels[split]
    result = {
        "benchmark": "split_gap",
        "date": datetime.date.today().isoformat(),
        "model": args.model,
        "config": str(config_path),
        "dataset": args.dataset or config.dataset,
        "train_examples": int(len(train_labels)),
        **measure(correct, similarity, same_label, labels, splits.class_names),
        "machine": _common.machine_info(),
    }
    out = _common.write_result(result, args.out)
    print(table(result))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

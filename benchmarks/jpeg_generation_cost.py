"""What one more JPEG generation costs a model trained and tested on it.

``jpeg_sensitivity.py`` distorts only the test images of a trained model; a
model trained on JPEG pixels and tested on the same kind of pixels (the
shared CIFAR-10 copy's case) meets no such mismatch. This script measures
that case directly, one generation further down: it trains the same recipe
twice, once on the data as given and once on the data re-encoded as JPEG at
``--quality`` (4:2:0, as the copy; train and test images alike), and
reports both test accuracies and their difference, with the mean PSNR of
the re-encoding against the data as given.

The shared copy is itself one JPEG generation (quality 75, about 30 dB
from the official pixels). The official images cannot be downloaded here,
so the cost of that generation cannot be measured; the cost of a second
generation of about the same PSNR is the nearest measurable thing. It is an
estimate: a second generation removes detail from images that already lost
some, and a shortened recipe (``--epochs``, ``--max-train-examples``) trains
a weaker model than the full one.

Usage::

    python benchmarks/jpeg_generation_cost.py --dataset ../shared/data/cifar10-jpeg \\
        --work /tmp/jpeg-generation --epochs 20 --max-train-examples 20000
    python benchmarks/jpeg_generation_cost.py --dataset synthetic --quick --work /tmp/j

The two runs are ordinary ``keras-resnet fit`` runs of ``--config`` (default
the ResNet-20 reference recipe) on ``.npz`` files written to ``--work``;
running the script again continues unfinished runs with ``--resume`` and
reuses finished ones. Writes a JSON with both rows, the recipe, the machine
and the date (default ``benchmarks/results/jpeg_generation_cost-<date>.json``)
and prints a table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import subprocess
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import _common  # noqa: E402
from jpeg_sensitivity import mean_psnr, psnr, reencode  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "reference" / "resnet20_cifar10.yaml"
# Variants in the order they train: the data as given, then re-encoded.
AS_GIVEN, REENCODED = "as_given", "reencoded"


def write_npz(path: pathlib.Path, arrays: dict, class_names) -> None:
    """The splits as an ``.npz`` dataset ``keras-resnet fit`` reads."""
    tmp = path.with_name(path.name + ".partial.npz")
    np.savez(
        tmp,
        x_train=arrays["train"][0],
        y_train=arrays["train"][1],
        x_test=arrays["test"][0],
        y_test=arrays["test"][1],
        class_names=np.asarray(class_names),
    )
    tmp.replace(path)


def prepare(dataset: str, quality: int, work: pathlib.Path) -> dict:
    """Write both variants' ``.npz`` files (once) and return the PSNRs."""
    summary = work / "data.json"
    if summary.is_file():
        recorded = json.loads(summary.read_text())
        if recorded["dataset"] == dataset and recorded["quality"] == quality:
            return recorded
    from keras_resnet.data import load_dataset

    splits = load_dataset(dataset)
    given = {name: splits.arrays[name] for name in ("train", "test")}
    reencoded, mean_db = {}, {}
    for name, (images, labels) in given.items():
        pixels = reencode(images, quality)
        mean_db[name] = mean_psnr(psnr(images, pixels))
        reencoded[name] = (pixels, labels)
    write_npz(work / f"{AS_GIVEN}.npz", given, splits.class_names)
    write_npz(work / f"{REENCODED}.npz", reencoded, splits.class_names)
    recorded = {
        "dataset": dataset,
        "quality": quality,
        "train_images": int(len(given["train"][1])),
        "test_images": int(len(given["test"][1])),
        "mean_psnr_db": mean_db,
    }
    summary.write_text(json.dumps(recorded, indent=2) + "\n")
    return recorded


def fit(config: pathlib.Path, data: pathlib.Path, run_dir: pathlib.Path, options):
    """Train (or continue, or reuse) one run; return its ``metrics.json``."""
    metrics = run_dir / "metrics.json"
    if metrics.is_file():
        finished = json.loads(metrics.read_text())
        if finished.get("completed"):
            return finished
    command = [
        sys.executable,
        str(ROOT / "cli.py"),
        "fit",
        "--config",
        str(config),
        f"--dataset={data}",
        f"--output-dir={run_dir}",
        "--grad-norm-every=0",
        *options,
    ]
    if (run_dir / "config.yaml").is_file():
        command.append("--resume")
    subprocess.run(command, check=True)
    return json.loads(metrics.read_text())


def table(rows: list[dict]) -> str:
    base = rows[0]["test_accuracy"]
    lines = [
        (
            row["variant"],
            "-" if row["mean_psnr_db"] is None else f"{row['mean_psnr_db']:.1f}",
            f"{100 * row['test_accuracy']:.2f}",
            f"{100 * (row['test_accuracy'] - base):+.2f}",
            f"{row['final_train_loss']:.3f}",
        )
        for row in rows
    ]
    header = (
        "trained and tested on",
        "test PSNR vs as given (dB)",
        "test accuracy (%)",
        "change (points)",
        "final training loss",
    )
    return _common.format_table(header, lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="as for keras-resnet fit")
    parser.add_argument("--work", type=pathlib.Path, required=True, help="folder")
    parser.add_argument("--config", type=pathlib.Path, default=CONFIG)
    parser.add_argument(
        "--quality", type=int, default=55, help="JPEG quality (55: about 30 dB)"
    )
    parser.add_argument("--epochs", type=int, help="default: the config's")
    parser.add_argument(
        "--max-train-examples",
        type=int,
        help="a seeded class-balanced draw of the training split (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="harness check")
    parser.add_argument("--out", type=pathlib.Path, help="JSON path")
    args = parser.parse_args(argv)
    if not 1 <= args.quality <= 95:
        parser.error(f"--quality must be between 1 and 95. Received: {args.quality}")
    if not args.config.is_file():
        parser.error(f"--config {args.config} is not a file")

    options = []
    if args.quick:
        options += [
            "--epochs=1",
            "--width-multiplier=0.25",
            "--model-option=blocks_per_stage=1",
            "--max-train-examples=64",
            "--max-test-examples=32",
            "--batch-size=32",
            "--quiet",
        ]
    else:
        if args.epochs:
            options.append(f"--epochs={args.epochs}")
        if args.max_train_examples:
            options.append(f"--max-train-examples={args.max_train_examples}")
    args.work.mkdir(parents=True, exist_ok=True)
    data = prepare(args.dataset, args.quality, args.work)
    rows = []
    for variant in (AS_GIVEN, REENCODED):
        metrics = fit(
            args.config,
            args.work / f"{variant}.npz",
            args.work / "runs" / variant,
            options,
        )
        rows.append(
            {
                "variant": variant,
                "mean_psnr_db": (
                    None if variant == AS_GIVEN else data["mean_psnr_db"]["test"]
                ),
                "test_accuracy": metrics["test_accuracy"],
                "test_loss": metrics["test_loss"],
                "final_train_loss": metrics["final_train_loss"],
                "epochs": metrics["epochs"],
                "total_seconds": metrics["total_seconds"],
            }
        )
    result = {
        "benchmark": "jpeg_generation_cost",
        "date": datetime.date.today().isoformat(),
        "dataset": args.dataset,
        "config": str(args.config.resolve().relative_to(ROOT))
        if args.config.resolve().is_relative_to(ROOT)
        else str(args.config),
        "options": options,
        "data": data,
        "rows": rows,
        "cost_points": round(
            100 * (rows[0]["test_accuracy"] - rows[1]["test_accuracy"]), 2
        ),
        "machine": _common.machine_info(),
    }
    out = _common.write_result(result, args.out)
    print(table(rows))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

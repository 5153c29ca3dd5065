"""How much a JPEG distortion of the size of the shared copy's costs a model.

The shared CIFAR-10 copy (``../shared/data/cifar10-jpeg``) is the official
images saved once as JPEG at quality 75 with 4:2:0 chroma subsampling: about
30 dB PSNR from the official pixels (its README). The official binaries
cannot be downloaded here, so the cost of that first generation cannot be
measured directly. This script measures the nearest thing: it re-encodes
the test images once more at a range of JPEG qualities (4:2:0, as the copy),
and reports for each the mean PSNR of the re-encoded images against the
images as given and the model's test accuracy on them. Read the accuracy
change at a re-encoding whose PSNR matches the copy's ~30 dB as the size of
the effect a distortion of that kind and size has on this model.

Two things make it an estimate, not the measurement: the model was trained
on JPEG images, so it has seen this kind of distortion (a model trained on
the official images might lose more on JPEG test images, or less); and a
second JPEG pass at the first pass's quality is nearly idempotent (the same
quantisation grid), which is why the distortion is matched by PSNR, not by
quality setting.

Usage::

    python benchmarks/jpeg_sensitivity.py /path/to/run --dataset ../shared/data/cifar10-jpeg
    python benchmarks/jpeg_sensitivity.py MODEL --dataset synthetic --quick --out /tmp/j.json

MODEL is a run directory, a ``.keras`` file, or ``mini_resnet:cifar10``
(the pretrained weights shipped with the package). Writes a JSON with every
row, the machine and the date (default
``benchmarks/results/jpeg_sensitivity-<date>.json``) and prints a table.
"""

from __future__ import annotations

import argparse
import datetime
import io
import math
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import _common  # noqa: E402

QUALITIES = (95, 90, 75, 60, 50, 40, 30, 20)
QUICK_QUALITIES = (90, 30)


def reencode(images: np.ndarray, quality: int) -> np.ndarray:
    """``images`` (uint8 NHWC) saved as JPEG at ``quality``, 4:2:0, and decoded."""
    from PIL import Image

    out = np.empty_like(images)
    for index, image in enumerate(images):
        buffer = io.BytesIO()
        Image.fromarray(image).save(
            buffer, format="JPEG", quality=quality, subsampling=2
        )
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            out[index] = np.asarray(decoded.convert("RGB"))
    return out


def psnr(reference: np.ndarray, distorted: np.ndarray) -> np.ndarray:
    """Per-image PSNR in dB (8-bit peak); identical images give ``inf``."""
    difference = reference.astype(np.float64) - distorted.astype(np.float64)
    mse = np.mean(difference**2, axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(255.0**2 / mse)


def mean_psnr(values: np.ndarray) -> float:
    """The mean of per-image PSNRs over the images that differ (``inf`` when
    none does)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.inf


def measure(predictor, images, labels, qualities, batch_size: int) -> list[dict]:
    """One row per quality (``None``: the images as given)."""
    rows = []
    for quality in (None, *qualities):
        start = time.perf_counter()
        pixels = images if quality is None else reencode(images, quality)
        probabilities = predictor.predict(pixels, batch_size=batch_size)
        correct = np.argmax(probabilities, axis=-1) == labels
        values = psnr(images, pixels)
        rows.append(
            {
                "quality": quality,
                "mean_psnr_db": mean_psnr(values),
                "median_psnr_db": float(np.median(values)),
                "accuracy": float(correct.mean()),
                "correct": int(correct.sum()),
                "seconds": round(time.perf_counter() - start, 2),
            }
        )
    return rows


def table(rows: list[dict], examples: int) -> str:
    base = rows[0]["accuracy"]
    lines = [
        (
            "as given" if row["quality"] is None else f"JPEG q{row['quality']}",
            "-" if math.isinf(row["mean_psnr_db"]) else f"{row['mean_psnr_db']:.1f}",
            f"{100 * row['accuracy']:.2f}",
            f"{100 * (row['accuracy'] - base):+.2f}",
        )
        for row in rows
    ]
    header = ("test images", "mean PSNR (dB)", "accuracy (%)", "change (points)")
    return f"{examples} test images\n" + _common.format_table(header, lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="run directory, .keras file or model:weights")
    parser.add_argument("--dataset", required=True, help="as for keras-resnet fit")
    parser.add_argument(
        "--qualities",
        type=int,
        nargs="+",
        help=f"default: {' '.join(map(str, QUALITIES))}",
    )
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument(
        "--max-test-examples",
        type=int,
        help="a seeded class-balanced draw of the test split (default: all)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="harness check: 2 qualities"
    )
    parser.add_argument("--out", type=pathlib.Path, help="JSON path")
    args = parser.parse_args(argv)
    qualities = args.qualities or (QUICK_QUALITIES if args.quick else QUALITIES)
    bad = [q for q in qualities if not 1 <= q <= 95]
    if bad:
        parser.error(f"--qualities must be between 1 and 95. Received: {bad[0]}")

    from keras_resnet.data import load_dataset

    predictor = _common.load_predictor(args.model)
    splits = load_dataset(args.dataset, max_test_examples=args.max_test_examples)
    images, labels = splits.arrays["test"]
    if len(predictor.class_names) != splits.num_classes:
        parser.error(
            f"the model has {len(predictor.class_names)} classes, the dataset "
            f"{args.dataset} {splits.num_classes}"
        )
    rows = measure(predictor, images, labels, qualities, args.batch_size)
    result = {
        "benchmark": "jpeg_sensitivity",
        "date": datetime.date.today().isoformat(),
        "model": args.model,
        "dataset": args.dataset,
        "test_examples": int(len(labels)),
        "rows": rows,
        "machine": _common.machine_info(),
    }
    out = _common.write_result(result, args.out)
    print(table(rows, len(labels)))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Host input-pipeline throughput and the device cost of augmentation.

    python benchmarks/pipeline.py            # the shared CIFAR-10, ResNet-18
    python benchmarks/pipeline.py --quick    # synthetic data, tiny model (CI)

Prints a table: images/s of ``make_pipeline`` (after the first decode, which
is timed separately) and the time of the augmentation layers per batch
against one ResNet-18 training step on the same batch.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import time

import keras

from keras_resnet import build_model
from keras_resnet.augment import build_augmentation
from keras_resnet.data import load_dataset, make_pipeline

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared/data/cifar10-jpeg"


def pipeline_rate(splits, batch_size: int, batches: int) -> float:
    """Images/s of the training pipeline, after one warm-up batch."""
    stream = iter(
        make_pipeline(splits.arrays["train"], batch_size=batch_size, training=True)
    )
    next(stream)
    start = time.perf_counter()
    for _ in range(batches):
        next(stream)
    return batches * batch_size / (time.perf_counter() - start)


def median_seconds(function, repeats: int) -> float:
    """Median wall time of ``function()`` after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def device_costs(images, labels, model_name, width, repeats, **model_options):
    """Seconds per batch of the augmentation alone and of one training step."""
    inputs = keras.Input(images.shape[1:], dtype="uint8")
    augment = keras.Model(inputs, build_augmentation(cutout=8)(inputs, training=True))
    augment.compile(jit_compile=True)
    model = build_model(
        model_name,
        width_multiplier=width,
        input_shape=images.shape[1:],
        **model_options,
    )
    model.compile("sgd", "sparse_categorical_crossentropy", jit_compile=True)
    x = images.astype("float32")

    def augment_step():
        augment.predict_on_batch(images)

    def train_step():
        model.train_on_batch(x, labels)

    return median_seconds(augment_step, repeats), median_seconds(train_step, repeats)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny CI run")
    parser.add_argument(
        "--source", default=None, help="dataset (default: shared CIFAR-10)"
    )
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)
    source = args.source or ("synthetic" if args.quick else str(SHARED))
    start = time.perf_counter()
    splits = load_dataset(source, max_train_examples=512 if args.quick else None)
    load_seconds = time.perf_counter() - start
    batches = 4 if args.quick else 400
    rate = pipeline_rate(splits, args.batch_size, batches)
    x, y = splits.arrays["train"]
    # Quick: a ResNet-8 (one block per stage) at 1/8 width, fast to compile.
    model, width, options = (
        ("mini_resnet", 0.125, {"blocks_per_stage": 1})
        if args.quick
        else ("resnet18", 1.0, {})
    )
    aug, step = device_costs(
        x[: args.batch_size],
        y[: args.batch_size],
        model,
        width,
        2 if args.quick else 5,
        **options,
    )
    rows = [
        ("source", source),
        ("load + decode (s, first run or cache)", f"{load_seconds:.1f}"),
        ("host pipeline (images/s)", f"{rate:,.0f}"),
        (f"augmentation per batch of {args.batch_size} (ms)", f"{aug * 1e3:.2f}"),
        (f"{model} train step (ms)", f"{step * 1e3:.1f}"),
        ("augmentation / train step (%)", f"{100 * aug / step:.2f}"),
    ]
    width_col = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width_col}}  {value}")


if __name__ == "__main__":
    main()

"""Cost of recording the gradients training applies, per train step.

The engine's optimizer adds, in every update, the L2 norm of each conv and
dense kernel's gradient to per-epoch sums and maxima
(``keras_resnet.train.optim.GradientNormTracking``). This script builds the
engine's training model twice from the same seed, with and without that
tracking, and times ``train_on_batch`` on the same batch in alternating
windows, so that both see the same machine load. An epoch is
``steps_per_epoch`` such steps, so the per-step ratio is the per-epoch
overhead of the training norms (the probe norms are a separate, documented
cost: see docs/gradients.md).

Usage:
    python benchmarks/train_grad_norm_overhead.py           # ResNet-18, full width, batch 128
    python benchmarks/train_grad_norm_overhead.py --quick   # tiny, seconds: checks the harness
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from _common import loadavg, machine_info


def build_pair(quick: bool):
    """Two compiled training models (without, with tracking) and a batch."""
    import keras

    from keras_resnet.data import load_dataset
    from keras_resnet.train import TrainConfig
    from keras_resnet.train.engine import build_models

    batch = 16 if quick else 128
    base = TrainConfig(
        model="mini_resnet" if quick else "resnet18",
        model_options={"blocks_per_stage": 1} if quick else {},
        width_multiplier=0.125 if quick else 1.0,
        dataset="synthetic",
        batch_size=batch,
        max_train_examples=4 * batch,
        validation_split=0.0,
        jit_compile=False,
        verbose=0,
    )
    splits = load_dataset(
        "synthetic", validation_split=0.0, seed=0, max_train_examples=4 * batch
    )
    images, labels = splits.arrays["train"]
    models = {}
    for name, every in (("without", 0), ("with", 1)):
        keras.utils.set_random_seed(0)
        _, model = build_models(base.replace(grad_norm_every=every), splits, 4)
        models[name] = model
    return models, images[:batch], labels[:batch]


def measure(quick: bool, rounds: int, steps: int) -> dict:
    """Median seconds per step of each model over alternating windows."""
    models, images, labels = build_pair(quick)
    for model in models.values():  # tracing and allocation, untimed
        model.train_on_batch(images, labels)
    seconds = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            start = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(images, labels)
            seconds[name].append((time.perf_counter() - start) / steps)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    ratios = [w / wo for w, wo in zip(seconds["with"], seconds["without"], strict=True)]
    return {
        "model": "mini_resnet x0.125" if quick else "resnet18 x1.0",
        "batch_size": len(labels),
        "rounds": rounds,
        "steps_per_window": steps,
        "seconds_per_step_without": median["without"],
        "seconds_per_step_with": median["with"],
        "windows_without": seconds["without"],
        "windows_with": seconds["with"],
        "overhead_percent_median_ratio": 100 * (statistics.median(ratios) - 1),
        "loadavg_after": loadavg(),
        "machine": machine_info(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI)")
    parser.add_argument("--rounds", type=int, default=None, help="alternations")
    parser.add_argument("--steps", type=int, default=None, help="steps per window")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 5)
    steps = args.steps or (2 if args.quick else 4)
    if rounds < 1 or steps < 1:
        parser.error("--rounds and --steps must be >= 1")
    print(json.dumps(measure(args.quick, rounds, steps), indent=2))


if __name__ == "__main__":
    main()

"""Cost of the GradientNormRecorder as a percentage of training time.

Trains the same configuration twice, without the recorder
(``grad_norm_every=0``) and with it at the default frequency (every epoch,
plus steps 0/10/50/100 of the first epoch), and compares the summed epoch
times of epochs 2.. (epoch 1 also holds one-off tracing) and of all epochs.

Usage:
    python benchmarks/grad_norm_overhead.py            # resnet18 x0.25, 5,000 images, 4 epochs
    python benchmarks/grad_norm_overhead.py --quick    # tiny, seconds: checks the harness
"""

from __future__ import annotations

import argparse
import json
import tempfile

from keras_resnet.train import TrainConfig, train


def configs(quick: bool, output: str) -> dict[str, TrainConfig]:
    """The two runs to compare."""
    if quick:
        base = TrainConfig(
            model="mini_resnet",
            model_options={"blocks_per_stage": 1},
            width_multiplier=0.25,
            dataset="synthetic",
            max_train_examples=256,
            max_test_examples=32,
            validation_split=0.0,
            epochs=2,
            batch_size=32,
            grad_norm_steps=[0, 2],
            verbose=0,
        )
    else:
        base = TrainConfig(
            model="resnet18",
            width_multiplier=0.25,
            dataset="synthetic",
            max_train_examples=5000,
            max_test_examples=500,
            validation_split=0.0,
            epochs=4,
            batch_size=128,
            verbose=0,
        )
    return {
        "without": base.replace(grad_norm_every=0, output_dir=f"{output}/without"),
        "with": base.replace(output_dir=f"{output}/with"),
    }


def measure(quick: bool) -> dict[str, float]:
    """Train both runs; returns seconds and the recorder's overhead in %."""
    with tempfile.TemporaryDirectory() as output:
        times = {
            name: train(config).history["epoch_time"]
            for name, config in configs(quick, output).items()
        }
    steady = {name: sum(t[1:]) for name, t in times.items()}
    total = {name: sum(t) for name, t in times.items()}
    return {
        "seconds_without": total["without"],
        "seconds_with": total["with"],
        "overhead_percent_all_epochs": 100 * (total["with"] / total["without"] - 1),
        "overhead_percent_after_epoch1": 100 * (steady["with"] / steady["without"] - 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI)")
    args = parser.parse_args()
    result = measure(args.quick)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

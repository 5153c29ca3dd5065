"""Epoch time and the four-model study through the package's own engine.

Run by ``benchmarks/gpu.sh`` on an accelerator (JAX backend, XLA on), and in
``--quick`` mode on a CPU to check the harness. Everything goes through
``keras_resnet.train.train`` / ``keras_resnet.study.compare``, so the
figures are what a user of ``keras-resnet fit`` gets: data loading,
device-side augmentation and the gradient-norm recorder included (the
recorder is turned off for ``epoch-time``).

Usage::

    python benchmarks/gpu_study.py epoch-time --data .data/cifar10-jpeg \\
        --precision mixed_bfloat16 --batch-size 512 --json epoch.json
    python benchmarks/gpu_study.py study --data .data/cifar10-jpeg \\
        --epochs 30 --output /tmp/study --json study.json
    python benchmarks/gpu_study.py epoch-time --quick --json /tmp/e.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402

QUICK = {
    "dataset": "synthetic",
    "width_multiplier": 0.125,
    "max_train_examples": 64,
    "max_test_examples": 32,
    "batch_size": 16,
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("epoch-time", "study"))
    parser.add_argument("--data", default="cifar10", help="dataset source (path)")
    parser.add_argument("--model", default="resnet18", help="epoch-time model")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--learning-rate", type=float, default=0.2)
    parser.add_argument("--schedule", default="onecycle")
    parser.add_argument(
        "--precision",
        default="mixed_bfloat16",
        choices=("float32", "mixed_bfloat16", "mixed_float16"),
    )
    parser.add_argument("--output", default="gpu-study", help="run / study folder")
    parser.add_argument("--json", dest="json_path", help="write the summary here")
    parser.add_argument("--quick", action="store_true", help="tiny synthetic run")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1:
        parser.error(
            "--epochs and --batch-size must be >= 1. "
            f"Received: epochs={args.epochs}, batch_size={args.batch_size}"
        )
    return args


def base_config(args):
    """The shared recipe: XLA on, cosine or one-cycle, standard augmentation."""
    from keras_resnet.train import TrainConfig

    values = {
        "dataset": args.data,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "schedule": args.schedule,
        "precision": args.precision,
        "jit_compile": True,
        "validation_split": 0.0,
        "verbose": 2,
    }
    if args.quick:
        values.update(QUICK, epochs=min(args.epochs, 2))
    return TrainConfig(**values)


def epoch_time(args) -> dict:
    """Train ``args.model`` for a few epochs; time every epoch after the first."""
    from keras_resnet.train import train

    config = base_config(args).replace(
        model=args.model, grad_norm_every=0, grad_norm_steps=[]
    )
    run_dir = Path(args.output) / f"{args.model}-{args.precision}"
    result = train(config.replace(output_dir=str(run_dir)), overwrite=True)
    times = result.history["epoch_time"]
    steady = times[1:] or times
    seconds = statistics.median(steady)
    train_size = json.loads((run_dir / "dataset.json").read_text())["train_size"]
    return {
        "model": args.model,
        "precision": args.precision,
        "batch_size": config.batch_size,
        "train_size": train_size,
        "epoch_times": times,
        "seconds_per_epoch": seconds,
        "images_per_s": train_size / seconds,
        "test_accuracy": result.metrics["test_accuracy"],
    }


def study(args) -> dict:
    """The four-model study (``STUDY_MODELS``) with one recipe."""
    from keras_resnet.study import STUDY_MODELS, compare

    started = time.perf_counter()
    results = compare(STUDY_MODELS, base_config(args), output_dir=args.output)
    return {
        "models": list(STUDY_MODELS),
        "epochs": args.epochs,
        "precision": args.precision,
        "rows": results.rows,
        "report": str(results.report_path),
        "seconds": time.perf_counter() - started,
    }


def environment() -> dict:
    """Backend, devices and versions."""
    import keras

    info = {"keras": keras.__version__, "backend": keras.backend.backend()}
    if info["backend"] == "jax":
        import jax

        info["jax"] = jax.__version__
        info["devices"] = [str(d) for d in jax.devices()]
    return info


def main(argv=None) -> int:
    args = parse_args(argv)
    work = epoch_time if args.command == "epoch-time" else study
    summary = {
        "command": args.command,
        "machine": _common.machine_info(),
        "environment": environment(),
        "load_before": _common.loadavg(),
        "result": work(args),
    }
    text = json.dumps(summary, indent=2, default=str)
    print(text)
    if args.json_path:
        Path(args.json_path).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

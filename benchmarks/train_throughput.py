"""Training throughput of our ResNet-18 against a plain Keras one and PyTorch.

Each implementation runs in its own process (fresh thread pools, one
framework per process) on the same fixed synthetic batch; after ``--warmup``
untimed steps, ``--windows`` windows of ``--steps`` train steps are timed and
the median images/s is reported. Ours and the plain Keras network share the
train step (``model.train_on_batch`` after the same ``compile``), so their
ratio measures what the package's model adds or saves: its structure, and
its fused batch normalization against Keras' own layer.

Usage (full run, about 10 minutes on a 2-core CPU)::

    python benchmarks/train_throughput.py
    python benchmarks/train_throughput.py --backends tensorflow,jax \\
        --torch-python /tmp/torch-venv/bin/python --json results.json
    python benchmarks/train_throughput.py --quick      # harness check, seconds

Environment knobs are options too (``--onednn off``, ``--intra-op 2``) because
they must be set before TensorFlow starts, i.e. in the worker's environment.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402

IMPLS = ("ours", "plain", "torch")
BACKENDS = ("tensorflow", "jax")
PRECISIONS = ("float32", "mixed_bfloat16")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--impls", default="ours,plain,torch", help="comma list of ours, plain, torch"
    )
    parser.add_argument(
        "--backends",
        default="tensorflow",
        help="Keras backends for ours/plain: tensorflow, jax",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--steps", type=int, default=3, help="train steps per timed window"
    )
    parser.add_argument(
        "--windows", type=int, default=3, help="timed windows (median reported)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--width-multiplier", type=float, default=1.0)
    parser.add_argument(
        "--jit-compile",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="XLA for the Keras train step (Keras' own default on CPU is off)",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="float32",
        help="Keras dtype policy; torch uses bfloat16 autocast for mixed_bfloat16",
    )
    parser.add_argument(
        "--onednn",
        choices=("default", "on", "off"),
        default="default",
        help="TF_ENABLE_ONEDNN_OPTS for TensorFlow workers",
    )
    parser.add_argument(
        "--intra-op",
        type=int,
        default=0,
        help="TF intra-op / torch threads (0: framework default)",
    )
    parser.add_argument(
        "--inter-op", type=int, default=0, help="TF inter-op threads (0: default)"
    )
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="torch memory format",
    )
    parser.add_argument(
        "--torch-compile",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="torch.compile the PyTorch model",
    )
    parser.add_argument(
        "--torch-python",
        default=os.environ.get("TORCH_PYTHON"),
        help="interpreter with torch, if not this one",
    )
    parser.add_argument("--json", dest="json_path", help="also write the results here")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, one window: checks the harness",
    )
    parser.add_argument("--worker", choices=IMPLS, help=argparse.SUPPRESS)
    parser.add_argument(
        "--backend",
        choices=(*BACKENDS, "torch"),
        default="tensorflow",
        help=argparse.SUPPRESS,
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.width_multiplier, args.batch_size = 0.125, 8
        args.steps, args.windows, args.warmup = 1, 1, 1
    _validate(parser, args)
    return args


def _validate(parser, args) -> None:
    for name in ("batch_size", "steps", "windows"):
        if getattr(args, name) < 1:
            parser.error(
                f"--{name.replace('_', '-')} must be >= 1. Received: {name}={getattr(args, name)}"
            )
    if args.width_multiplier <= 0:
        parser.error(
            f"--width-multiplier must be > 0. Received: width_multiplier={args.width_multiplier}"
        )
    args.impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for impl in args.impls:
        if impl not in IMPLS:
            parser.error(f"--impls takes {', '.join(IMPLS)}. Received: impls={impl!r}")
    for backend in args.backends:
        if backend not in BACKENDS:
            parser.error(
                f"--backends takes {', '.join(BACKENDS)}. Received: backends={backend!r}"
            )


# -- workers (one implementation per process) ------------------------------


def keras_worker(args) -> dict:
    """Time ours or the plain network under the current Keras backend."""
    if args.backend == "tensorflow" and (args.intra_op or args.inter_op):
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op)
    import keras

    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy(args.precision)
    if args.worker == "ours":
        import keras_resnet

        model = keras_resnet.build_model(
            "resnet18", width_multiplier=args.width_multiplier
        )
    else:
        model = _common.build_plain_keras_resnet18(args.width_multiplier)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        jit_compile=args.jit_compile,
    )
    images, labels = _common.synthetic_batch(args.batch_size)
    timing = _common.time_windows(
        lambda: model.train_on_batch(images, labels),
        images_per_step=args.batch_size,
        steps=args.steps,
        windows=args.windows,
        warmup=args.warmup,
    )
    params = sum(math.prod(w.shape) for w in model.trainable_weights)
    return {
        "params": params,
        "framework": f"keras {keras.__version__} / {args.backend}",
        **timing,
    }


def torch_worker(args) -> dict:
    """Time the same ResNet-18 in PyTorch (SGD, cross-entropy; GPU if any)."""
    import torch

    torch.manual_seed(0)
    if args.intra_op:
        torch.set_num_threads(args.intra_op)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cudnn.benchmark = True
    model = _common.build_torch_resnet18(args.width_multiplier)
    params = _common.count_torch_params(model)
    memory_format = (
        torch.channels_last if args.channels_last else torch.contiguous_format
    )
    model = model.to(device, memory_format=memory_format).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    forward = torch.compile(model) if args.torch_compile else model
    loss_fn = torch.nn.CrossEntropyLoss()
    images, labels = _common.synthetic_batch(args.batch_size)
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    x = x.to(device).contiguous(memory_format=memory_format)
    y = torch.from_numpy(labels).to(device)
    autocast = args.precision == "mixed_bfloat16"

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
            loss = loss_fn(forward(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    timing = _common.time_windows(
        step,
        images_per_step=args.batch_size,
        steps=args.steps,
        windows=args.windows,
        warmup=args.warmup,
    )
    return {
        "params": params,
        "framework": f"torch {torch.__version__} / {device}"
        + (" compiled" if args.torch_compile else ""),
        **timing,
    }


# -- driver -----------------------------------------------------------------


def worker_command(python: str, args, impl: str, backend: str) -> list[str]:
    forwarded = [
        "--batch-size",
        str(args.batch_size),
        "--steps",
        str(args.steps),
        "--windows",
        str(args.windows),
        "--warmup",
        str(args.warmup),
        "--width-multiplier",
        str(args.width_multiplier),
        "--precision",
        args.precision,
        "--intra-op",
        str(args.intra_op),
        "--inter-op",
        str(args.inter_op),
        "--jit-compile" if args.jit_compile else "--no-jit-compile",
        "--channels-last" if args.channels_last else "--no-channels-last",
        "--torch-compile" if args.torch_compile else "--no-torch-compile",
    ]
    return [python, __file__, "--worker", impl, "--backend", backend, *forwarded]


def worker_env(args, backend: str) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    if args.onednn != "default":
        env["TF_ENABLE_ONEDNN_OPTS"] = "1" if args.onednn == "on" else "0"
    return env


def plan(args) -> list[tuple[str, str]]:
    """(impl, backend) pairs in table order; torch has no Keras backend."""
    pairs = [(impl, b) for b in args.backends for impl in args.impls if impl != "torch"]
    if "torch" in args.impls:
        pairs.append(("torch", "torch"))
    return pairs


def run_all(args) -> list[dict]:
    torch_python = _common.python_with("torch", [args.torch_python, sys.executable])
    results = []
    for impl, backend in plan(args):
        row = {"impl": impl, "backend": backend, "load_before": _common.loadavg()}
        if impl == "torch" and torch_python is None:
            print(
                "torch: not installed (pass --torch-python); skipped", file=sys.stderr
            )
            continue
        python = torch_python if impl == "torch" else sys.executable
        print(f"timing {impl} ({backend}) ...", file=sys.stderr, flush=True)
        row.update(
            _common.run_json_child(
                worker_command(python, args, impl, backend), worker_env(args, backend)
            )
        )
        row["load_after"] = _common.loadavg()
        results.append(row)
    check_params(results)
    return results


def check_params(results: list[dict]) -> None:
    """All implementations must train the same network (same parameter count)."""
    counts = {f"{r['impl']} ({r['backend']})": r["params"] for r in results}
    if len(set(counts.values())) > 1:
        raise SystemExit(f"Error: parameter counts differ: {counts}")


def table(results: list[dict]) -> str:
    base = next((r for r in results if r["impl"] == "ours"), results[0])
    plain = {r["backend"]: r for r in results if r["impl"] == "plain"}
    rows = []
    for r in results:
        ref = plain.get(r["backend"])
        rows.append(
            [
                r["impl"],
                r["framework"],
                f"{r['params']:,}",
                f"{r['images_per_s']:.1f}",
                f"{r['min']:.1f}-{r['max']:.1f}",
                f"{r['images_per_cpu_s']:.1f}",
                f"{r['images_per_s'] / base['images_per_s']:.2f}",
                f"{r['images_per_s'] / ref['images_per_s']:.2f}" if ref else "-",
                r["load_before"],
            ]
        )
    headers = [
        "impl",
        "framework / backend",
        "params",
        "images/s",
        "range",
        "images/CPU-s",
        "vs ours",
        "vs plain",
        "load before",
    ]
    return _common.format_table(headers, rows)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        work = torch_worker if args.worker == "torch" else keras_worker
        print(json.dumps(work(args)))
        return 0
    results = run_all(args)
    settings = {
        k: getattr(args, k)
        for k in (
            "batch_size",
            "steps",
            "windows",
            "warmup",
            "width_multiplier",
            "jit_compile",
            "precision",
            "onednn",
            "intra_op",
            "inter_op",
            "channels_last",
            "torch_compile",
        )
    }
    print(f"settings: {settings}")
    print(table(results))
    if args.json_path:
        report = {
            "settings": settings,
            "machine": _common.machine_info(),
            "results": results,
        }
        Path(args.json_path).write_text(
            json.dumps(report, indent=2) + "\n", encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

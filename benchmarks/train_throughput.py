"""Training throughput of our ResNets against plain Keras ones and PyTorch.

Each implementation runs in its own process (fresh thread pools, one
framework per process) on the same fixed synthetic batch; after ``--warmup``
untimed steps, ``--windows`` windows of ``--steps`` train steps are timed and
the median images/s is reported. Ours and the plain Keras network share the
train step (``model.train_on_batch`` after the same ``compile``), so their
ratio measures what the package's model adds or saves: its structure, and
its fused batch normalization against Keras' own layer.

Two modes:

- one network (default ResNet-18, ``--model``), one pass over ``--impls``;
- ``--sweep``: ResNet-20, ResNet-56 and ResNet-18 at batch 128 and 512,
  ours, plain Keras and three PyTorch settings (contiguous, channels_last,
  torch.compile), in rounds: each round starts every implementation once
  per (model, batch), in an order rotated from round to round, records the
  load average before and after each worker, and the report gives medians
  over rounds and ours / best PyTorch setting. Steps per window follow the
  model and batch (``WINDOW_IMAGES``) unless ``--steps``/``--windows``/
  ``--warmup`` are given; ``--budget-minutes`` starts no round that would
  end past the budget, judged by the previous round's duration (round 1
  also compiles torch.compile's kernels cold, so later rounds are shorter
  and the judgement is conservative). Ctrl-C reports the rows so far.

Usage::

    python benchmarks/train_throughput.py          # ResNet-18, ~10 min
    python benchmarks/train_throughput.py --backends tensorflow,jax \\
        --torch-python /tmp/torch-venv/bin/python --json results.json
    python benchmarks/train_throughput.py --sweep --rounds 2 \\
        --torch-python /tmp/torch-venv/bin/python --json sweep.json
    python benchmarks/train_throughput.py --quick      # harness check, seconds
    python benchmarks/train_throughput.py --sweep --quick --models resnet20

Environment knobs are options too (``--onednn off``, ``--intra-op 2``) because
they must be set before TensorFlow starts, i.e. in the worker's environment.
The sweep turns oneDNN on (``TF_ENABLE_ONEDNN_OPTS=1``, as the
``keras-resnet`` command does) unless ``--onednn`` says otherwise.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402

# torch settings by implementation name: (channels_last, torch.compile);
# plain "torch" follows --channels-last / --torch-compile.
TORCH_VARIANTS = {
    "torch-contiguous": (False, False),
    "torch-channels-last": (True, False),
    "torch-compile": (False, True),
    "torch-compile-channels-last": (True, True),
}
IMPLS = ("ours", "plain", "torch", *TORCH_VARIANTS)
BACKENDS = ("tensorflow", "jax")
PRECISIONS = ("float32", "mixed_bfloat16")
MODELS = tuple(_common.LAYOUTS)
# The package's builder and arguments for each network of _common.LAYOUTS.
OURS = {
    "resnet20": ("mini_resnet", {"blocks_per_stage": 3}),
    "resnet56": ("mini_resnet", {"blocks_per_stage": 9}),
    "resnet18": ("resnet18", {}),
}
SWEEP_MODELS = ("resnet20", "resnet56", "resnet18")
SWEEP_BATCH_SIZES = (128, 512)
SWEEP_IMPLS = (
    "ours",
    "plain",
    "torch-contiguous",
    "torch-channels-last",
    "torch-compile",
)
# Sweep windows per model: (images per timed window, images timed per
# worker). A 2-core CPU trains ResNet-20 at ~300 images/s, ResNet-56 at
# ~100 and ResNet-18 at ~36, so a window lasts about 1-5 s (at least one
# step) and a worker times 3-15 s plus its start-up (imports, tracing,
# torch.compile). Estimated for two rounds there: ~16 min for round 1, which
# compiles torch.compile's kernels cold, ~11 min for round 2.
WINDOW_IMAGES = {
    "resnet20": (384, 1152),
    "resnet56": (128, 384),
    "resnet18": (128, 128),
}
MAX_SWEEP_WINDOWS = 3
# Defaults of the one-network mode (the sweep plans its own).
STEPS, WINDOWS, WARMUP = 3, 3, 2


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--impls",
        help="comma list of "
        + ", ".join(IMPLS)
        + " (default: ours,plain,torch; with --sweep: "
        + ",".join(SWEEP_IMPLS)
        + ")",
    )
    parser.add_argument(
        "--backends",
        default="tensorflow",
        help="Keras backends for ours/plain: tensorflow, jax",
    )
    parser.add_argument(
        "--model", choices=MODELS, default="resnet18", help="network (one-network mode)"
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--steps",
        type=int,
        help=f"train steps per timed window (default {STEPS}; sweep: per model)",
    )
    parser.add_argument(
        "--windows",
        type=int,
        help=f"timed windows, median reported (default {WINDOWS}; sweep: per model)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        help=f"untimed steps first (default {WARMUP}; sweep: per model)",
    )
    parser.add_argument(
        "--width-multiplier",
        type=float,
        help="scales every layer's filters (default 1; --quick without "
        "--sweep: 0.125; the sweep keeps 1, as narrower nets crash "
        "PyTorch's channels_last)",
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="time --models x --batch-sizes x --impls in --rounds rounds",
    )
    parser.add_argument(
        "--models",
        default=",".join(SWEEP_MODELS),
        help=f"sweep: comma list of {', '.join(MODELS)}",
    )
    parser.add_argument(
        "--batch-sizes",
        help="sweep: comma list of batch sizes (default 128,512; --quick: 8)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="sweep: rounds, each starting every implementation once per "
        "(model, batch) (default 3; --quick: 1)",
    )
    parser.add_argument(
        "--budget-minutes",
        type=float,
        help="sweep: start no round expected to end past this many minutes "
        "(the first round always runs)",
    )
    parser.add_argument(
        "--worker-timeout",
        type=float,
        default=900.0,
        help="sweep: seconds after which a worker is killed and recorded as failed",
    )
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
        help="TF_ENABLE_ONEDNN_OPTS for TensorFlow workers (default: TensorFlow's "
        "own choice; with --sweep: on, as the keras-resnet command sets it)",
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
        help="torch memory format (impl 'torch')",
    )
    parser.add_argument(
        "--torch-compile",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="torch.compile the PyTorch model (impl 'torch')",
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
    parser.add_argument(
        "--worker", choices=("ours", "plain", "torch"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--backend",
        choices=(*BACKENDS, "torch"),
        default="tensorflow",
        help=argparse.SUPPRESS,
    )
    args = parser.parse_args(argv)
    if args.quick:
        if args.width_multiplier is None and not args.sweep:
            args.width_multiplier = 0.125
        args.batch_size = 8
        args.steps, args.windows, args.warmup = 1, 1, 1
        args.batch_sizes = args.batch_sizes or "8"
        args.rounds = 1 if args.rounds is None else args.rounds
    _validate(parser, args)
    return args


def _validate(parser, args) -> None:
    if not args.sweep:
        defaults = {"steps": STEPS, "windows": WINDOWS, "warmup": WARMUP}
        for name, default in defaults.items():
            if getattr(args, name) is None:
                setattr(args, name, default)
    args.rounds = 3 if args.rounds is None else args.rounds
    if args.width_multiplier is None:
        args.width_multiplier = 1.0
    args.onednn = args.onednn or ("on" if args.sweep else "default")
    for name in ("batch_size", "steps", "windows", "rounds"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(
                f"--{name.replace('_', '-')} must be >= 1. Received: {name}={value}"
            )
    if args.warmup is not None and args.warmup < 0:
        parser.error(f"--warmup must be >= 0. Received: warmup={args.warmup}")
    if args.width_multiplier <= 0:
        parser.error(
            f"--width-multiplier must be > 0. Received: width_multiplier={args.width_multiplier}"
        )
    for name in ("budget_minutes", "worker_timeout"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(
                f"--{name.replace('_', '-')} must be > 0. Received: {name}={value}"
            )
    args.impls = _split(
        args.impls or ",".join(SWEEP_IMPLS if args.sweep else IMPLS[:3])
    )
    args.backends = _split(args.backends)
    args.models = _split(args.models)
    for name, values, choices in (
        ("impls", args.impls, IMPLS),
        ("backends", args.backends, BACKENDS),
        ("models", args.models, MODELS),
    ):
        for value in values:
            if value not in choices:
                parser.error(
                    f"--{name} takes {', '.join(choices)}. Received: {name}={value!r}"
                )
    batch_sizes = _split(args.batch_sizes or ",".join(map(str, SWEEP_BATCH_SIZES)))
    for value in batch_sizes:
        if not value.isdigit() or int(value) < 1:
            parser.error(
                f"--batch-sizes takes integers >= 1. Received: batch_sizes={value!r}"
            )
    args.batch_sizes = [int(value) for value in batch_sizes]
    if args.json_path and not Path(args.json_path).resolve().parent.is_dir():
        parser.error(
            f"--json: folder {Path(args.json_path).parent} does not exist. "
            f"Received: json={args.json_path}"
        )


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


# -- workers (one implementation per process) ------------------------------


def keras_worker(args) -> dict:
    """Time ours or the plain network under the current Keras backend."""
    if args.backend == "tensorflow" and (args.intra_op or args.inter_op):
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op)
    import keras

    from keras_resnet.models.layers import avoid_strided_1x1_bug, onednn_enabled

    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy(args.precision)
    if args.worker == "ours":
        import keras_resnet

        builder, kwargs = OURS[args.model]
        model = keras_resnet.build_model(
            builder, width_multiplier=args.width_multiplier, **kwargs
        )
    else:
        model = _common.build_plain_keras_resnet(args.model, args.width_multiplier)
    # What the builders (and train()) do: narrow strided 1x1 convolutions
    # (below 16 input channels, i.e. only at --width-multiplier < 1 here)
    # avoid a oneDNN kernel bug; at full width no layer changes.
    avoided = avoid_strided_1x1_bug(model)
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
        "onednn": onednn_enabled(),
        "strided_1x1_workaround": len(avoided),
        **timing,
    }


def torch_worker(args) -> dict:
    """Time the same network in PyTorch (SGD, cross-entropy; GPU if any)."""
    import torch

    torch.manual_seed(0)
    if args.intra_op:
        torch.set_num_threads(args.intra_op)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cudnn.benchmark = True
    model = _common.build_torch_resnet(args.model, args.width_multiplier)
    params = _common.count_torch_params(model)
    if args.channels_last and device == "cpu":
        refuse_narrow_strided_1x1(model, args.width_multiplier)
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
        + (" channels_last" if args.channels_last else "")
        + (" compiled" if args.torch_compile else ""),
        "threads": torch.get_num_threads(),
        **timing,
    }


def refuse_narrow_strided_1x1(model, width_multiplier: float) -> None:
    """Exit before PyTorch's oneDNN corrupts its heap.

    On CPU, a strided 1x1 convolution on channels_last data with fewer input
    channels than oneDNN's SIMD block (8 floats on AVX2, 16 on AVX-512)
    reaches the weight-gradient kernel that
    ``keras_resnet.models.layers.avoid_strided_1x1_bug`` works around (oneDNN issue 6035): PyTorch aborts with "double free or
    corruption" or hangs. Such layers exist only at ``--width-multiplier``
    < 1 (ResNet-20 at 0.125 has 2 channels there).
    """
    from torch import nn

    block = 16 if _has_avx512() else 8
    for name, layer in model.named_modules():
        if (
            isinstance(layer, nn.Conv2d)
            and layer.kernel_size == (1, 1)
            and layer.stride != (1, 1)
            and layer.in_channels < block
        ):
            raise SystemExit(
                f"Error: channels_last with the strided 1x1 convolution {name} "
                f"({layer.in_channels} input channels, < {block}) crashes PyTorch's "
                "oneDNN on this CPU; use the contiguous format or a larger width. "
                f"Received: width_multiplier={width_multiplier}"
            )


def _has_avx512() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            return any(
                line.startswith("flags") and " avx512f" in line for line in stream
            )
    except OSError:
        return True  # unknown CPU: assume the larger block


# -- driver -----------------------------------------------------------------


def is_torch(impl: str) -> bool:
    return impl == "torch" or impl in TORCH_VARIANTS


def worker_command(python: str, args, impl: str, backend: str) -> list[str]:
    """The worker process for ``impl``; torch variants fix their settings."""
    channels_last, compiled = TORCH_VARIANTS.get(
        impl, (args.channels_last, args.torch_compile)
    )
    forwarded = [
        "--model",
        args.model,
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
        "--channels-last" if channels_last else "--no-channels-last",
        "--torch-compile" if compiled else "--no-torch-compile",
    ]
    worker = "torch" if is_torch(impl) else impl
    return [python, __file__, "--worker", worker, "--backend", backend, *forwarded]


def worker_env(args, backend: str) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    if args.onednn != "default":
        env["TF_ENABLE_ONEDNN_OPTS"] = "1" if args.onednn == "on" else "0"
    return env


def plan(args) -> list[tuple[str, str]]:
    """(impl, backend) pairs in table order; torch has no Keras backend."""
    pairs = [(i, b) for b in args.backends for i in args.impls if not is_torch(i)]
    return pairs + [(impl, "torch") for impl in args.impls if is_torch(impl)]


def find_torch_python(args) -> str | None:
    return _common.python_with("torch", [args.torch_python, sys.executable])


def run_all(args) -> list[dict]:
    torch_python = find_torch_python(args)
    results = []
    for impl, backend in plan(args):
        row = {"impl": impl, "backend": backend, "load_before": _common.loadavg()}
        if backend == "torch" and torch_python is None:
            print(
                f"{impl}: torch not installed (pass --torch-python); skipped",
                file=sys.stderr,
            )
            continue
        python = torch_python if backend == "torch" else sys.executable
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


# -- sweep: models x batch sizes x implementations, in rounds ----------------


def window_plan(args, model: str, batch_size: int) -> dict:
    """Warm-up steps, windows and steps per window for one sweep cell.

    ``--steps``/``--windows``/``--warmup`` win where given; otherwise a
    window holds about ``WINDOW_IMAGES[model][0]`` images (at least one
    step) and a worker times about ``WINDOW_IMAGES[model][1]`` images in at
    most ``MAX_SWEEP_WINDOWS`` windows, so large models and batches get few
    steps. Two warm-up steps when a step is short, else one (the first step
    traces and compiles; the second already runs at speed).
    """
    window_images, timed_images = WINDOW_IMAGES[model]
    steps = args.steps or max(1, round(window_images / batch_size))
    windows = args.windows or max(
        1, min(MAX_SWEEP_WINDOWS, round(timed_images / (steps * batch_size)))
    )
    warmup = args.warmup if args.warmup is not None else (2 if steps > 1 else 1)
    return {"steps": steps, "windows": windows, "warmup": warmup}


def arm_label(impl: str, backend: str) -> str:
    """``ours``, ``plain`` or a torch variant; other Keras backends suffixed."""
    return impl if backend in ("tensorflow", "torch") else f"{impl}/{backend}"


def run_sweep(args, torch_python: str | None, on_row=None) -> dict:
    """Time every (model, batch size, implementation) in rounds.

    Round ``r`` starts, for each (model, batch size) in turn, one worker per
    implementation, the order rotated by ``r`` so that no implementation
    always runs first; torch workers run in ``torch_python`` (skipped when
    it is None). ``on_row(rows)`` is called after each worker (the
    driver rewrites the JSON file there, so an interrupted sweep keeps its
    rows).

    Returns:
        ``rows`` (one per worker, failed ones with ``error``),
        ``rounds_completed``, ``stopped_by_budget``, ``interrupted``
        (Ctrl-C: the rows so far are returned), ``round_seconds`` and
        ``elapsed_s``.
    """
    arms = plan(args)
    if torch_python is None and any(b == "torch" for _, b in arms):
        skipped = ", ".join(i for i, b in arms if b == "torch")
        print(
            f"torch not installed (pass --torch-python); skipped: {skipped}",
            file=sys.stderr,
        )
        arms = [(i, b) for i, b in arms if b != "torch"]
    start, rows, round_seconds = time.monotonic(), [], []
    stopped = interrupted = False
    try:
        for index in range(args.rounds):
            elapsed = time.monotonic() - start
            if (
                index
                and args.budget_minutes
                and elapsed + round_seconds[-1] > args.budget_minutes * 60
            ):
                print(
                    f"budget: round {index + 1} would end after "
                    f"{(elapsed + round_seconds[-1]) / 60:.1f} min; stopping",
                    file=sys.stderr,
                )
                stopped = True
                break
            round_start = time.monotonic()
            _run_round(args, index, arms, torch_python, rows, on_row)
            round_seconds.append(time.monotonic() - round_start)
            print(
                f"round {index + 1} took {round_seconds[-1] / 60:.1f} min",
                file=sys.stderr,
                flush=True,
            )
    except KeyboardInterrupt:
        # Ctrl-C on a long sweep: report the rows timed so far.
        print("interrupted: reporting the rows so far", file=sys.stderr)
        interrupted = True
    return {
        "rows": rows,
        "rounds_completed": len(round_seconds),
        "stopped_by_budget": stopped,
        "interrupted": interrupted,
        "round_seconds": round_seconds,
        "elapsed_s": time.monotonic() - start,
    }


def _run_round(args, index, arms, torch_python, rows, on_row) -> None:
    for model in args.models:
        for batch_size in args.batch_sizes:
            cell = copy.copy(args)
            cell.model, cell.batch_size = model, batch_size
            vars(cell).update(window_plan(args, model, batch_size))
            shift = index % len(arms)
            for position, (impl, backend) in enumerate(arms[shift:] + arms[:shift]):
                python = torch_python if backend == "torch" else sys.executable
                rows.append(
                    sweep_worker(cell, python, impl, backend, index + 1, position)
                )
                if on_row:
                    on_row(rows)
            done = [r for r in rows if _in_cell(r, model, batch_size)]
            check_params([r for r in done if "error" not in r])


def _in_cell(row: dict, model: str, batch_size: int) -> bool:
    return row["model"] == model and row["batch_size"] == batch_size


def sweep_worker(cell, python, impl, backend, round_number, position) -> dict:
    """One worker of the sweep; a failure is recorded, not raised."""
    row = {
        "model": cell.model,
        "batch_size": cell.batch_size,
        "impl": arm_label(impl, backend),
        "backend": backend,
        "round": round_number,
        "position": position,
        "steps": cell.steps,
        "windows_planned": cell.windows,
        "warmup": cell.warmup,
        "load_before": _loadavg(),
    }
    print(
        f"round {round_number}: {cell.model} batch {cell.batch_size} {row['impl']} ...",
        file=sys.stderr,
        flush=True,
    )
    start = time.monotonic()
    try:
        row.update(
            _common.run_json_child(
                worker_command(python, cell, impl, backend),
                worker_env(cell, backend),
                timeout=cell.worker_timeout,
            )
        )
    except RuntimeError as error:
        row["error"] = str(error)[-2000:]
        print(f"  failed: {str(error).splitlines()[0]}", file=sys.stderr)
    row["wall_s"] = round(time.monotonic() - start, 2)
    row["load_after"] = _loadavg()
    return row


def _loadavg() -> list[float]:
    # os.getloadavg: the 1-, 5- and 15-minute load averages.
    return [round(value, 2) for value in os.getloadavg()]


def summarize(rows: list[dict]) -> dict:
    """Medians over rounds per (model, batch, impl) and ours / PyTorch.

    Returns:
        ``medians``: one entry per (model, batch size, impl) with the median,
        min and max over rounds of each worker's median images/s, the
        median images per CPU-second and the parameter count; ``cells``: one
        entry per (model, batch size) with ``best_torch`` (the PyTorch
        setting with the highest median), ``ours_vs_best_torch`` (ratio of
        medians), ``ours_vs_best_torch_in_round`` (median over rounds of
        ours / the best PyTorch row of the same round) and ``ours_vs_plain``.
    """
    ok = [r for r in rows if "error" not in r]
    groups: dict[tuple, list[dict]] = {}
    for r in ok:
        groups.setdefault((r["model"], r["batch_size"], r["impl"]), []).append(r)
    impls = []
    for (model, batch_size, impl), group in groups.items():
        rates = [r["images_per_s"] for r in group]
        impls.append(
            {
                "model": model,
                "batch_size": batch_size,
                "impl": impl,
                "backend": group[0]["backend"],
                "params": group[0]["params"],
                "rounds": len(group),
                "images_per_s": statistics.median(rates),
                "min": min(rates),
                "max": max(rates),
                "images_per_cpu_s": statistics.median(
                    r["images_per_cpu_s"] for r in group
                ),
                "load_before_1min": [r["load_before"][0] for r in group],
            }
        )
    cells = []
    for model, batch_size in dict.fromkeys(
        (i["model"], i["batch_size"]) for i in impls
    ):
        cells.append(_cell_ratios(model, batch_size, impls, ok))
    return {"medians": impls, "cells": cells}


def _cell_ratios(model, batch_size, impls, rows) -> dict:
    here = {i["impl"]: i for i in impls if _in_cell(i, model, batch_size)}
    torch_medians = {k: v for k, v in here.items() if v["backend"] == "torch"}
    ours, plain = here.get("ours"), here.get("plain")
    best = max(torch_medians.values(), key=lambda i: i["images_per_s"], default=None)
    in_round = []
    for number in sorted({r["round"] for r in rows}):
        same = [
            r for r in rows if _in_cell(r, model, batch_size) and r["round"] == number
        ]
        ours_row = next((r for r in same if r["impl"] == "ours"), None)
        torch_rates = [r["images_per_s"] for r in same if r["backend"] == "torch"]
        if ours_row and torch_rates:
            in_round.append(ours_row["images_per_s"] / max(torch_rates))
    return {
        "model": model,
        "batch_size": batch_size,
        "params": next(iter(here.values()))["params"],
        "best_torch": best["impl"] if best else None,
        "ours_vs_best_torch": (
            ours["images_per_s"] / best["images_per_s"] if ours and best else None
        ),
        "ours_vs_best_torch_in_round": statistics.median(in_round)
        if in_round
        else None,
        "ours_vs_plain": (
            ours["images_per_s"] / plain["images_per_s"] if ours and plain else None
        ),
    }


def sweep_tables(summary: dict) -> str:
    """The per-model table (median images/s, ratios) and the detail table."""
    names = list(dict.fromkeys(i["impl"] for i in summary["medians"]))
    medians = {
        (i["model"], i["batch_size"], i["impl"]): i["images_per_s"]
        for i in summary["medians"]
    }

    def ratio(value):
        return "-" if value is None else f"{value:.2f}"

    rows = []
    for cell in summary["cells"]:
        key = (cell["model"], cell["batch_size"])
        rates = [medians.get((*key, name)) for name in names]
        rows.append(
            [
                cell["model"],
                f"{cell['params']:,}",
                cell["batch_size"],
                *("-" if rate is None else f"{rate:.1f}" for rate in rates),
                cell["best_torch"] or "-",
                ratio(cell["ours_vs_best_torch"]),
                ratio(cell["ours_vs_best_torch_in_round"]),
                ratio(cell["ours_vs_plain"]),
            ]
        )
    headers = [
        "model",
        "params",
        "batch",
        *names,
        "best PyTorch",
        "ours / best PyTorch",
        "same round",
        "ours / plain",
    ]
    main = _common.format_table(headers, rows)
    detail = _common.format_table(
        [
            "model",
            "batch",
            "impl",
            "images/s (median)",
            "range over rounds",
            "images/CPU-s",
            "rounds",
            "load before (1 min)",
        ],
        [
            [
                i["model"],
                i["batch_size"],
                i["impl"],
                f"{i['images_per_s']:.1f}",
                f"{i['min']:.1f}-{i['max']:.1f}",
                f"{i['images_per_cpu_s']:.1f}",
                i["rounds"],
                f"{min(i['load_before_1min']):.2f}-{max(i['load_before_1min']):.2f}",
            ]
            for i in summary["medians"]
        ],
    )
    return f"{main}\n\n{detail}"


# -- entry point --------------------------------------------------------------

SETTINGS = (
    "model",
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
SWEEP_SETTINGS = (
    "models",
    "batch_sizes",
    "impls",
    "backends",
    "rounds",
    "budget_minutes",
    "steps",
    "windows",
    "warmup",
    "width_multiplier",
    "jit_compile",
    "precision",
    "onednn",
    "intra_op",
    "inter_op",
)


def write_json(path: str | None, report: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def sweep_main(args) -> int:
    settings = {k: getattr(args, k) for k in SWEEP_SETTINGS}
    settings["window_images"] = WINDOW_IMAGES
    settings["torch_python"] = find_torch_python(args)
    report = {
        "date": datetime.date.today().isoformat(),
        "settings": settings,
        "machine": _common.machine_info(),
        "complete": False,
    }

    def save(rows):
        write_json(args.json_path, {**report, "rows": rows})

    outcome = run_sweep(args, settings["torch_python"], on_row=save)
    summary = summarize(outcome["rows"])
    report.update(complete=not outcome["interrupted"], **outcome, **summary)
    write_json(args.json_path, report)
    print(f"settings: {settings}")
    print(
        f"{outcome['rounds_completed']} round(s) in {outcome['elapsed_s'] / 60:.1f} min"
    )
    print(sweep_tables(summary))
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        work = torch_worker if args.worker == "torch" else keras_worker
        print(json.dumps(work(args)))
        return 0
    if args.sweep:
        return sweep_main(args)
    results = run_all(args)
    settings = {k: getattr(args, k) for k in SETTINGS}
    print(f"settings: {settings}")
    print(table(results))
    write_json(
        args.json_path,
        {"settings": settings, "machine": _common.machine_info(), "results": results},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

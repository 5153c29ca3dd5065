"""Where a ResNet-18 train step spends its time, from the TensorFlow profiler.

Builds our ``resnet18`` or the plain inline Keras one, runs ``--warmup``
train steps, then records ``--steps`` more with ``tf.profiler`` and reads the
trace (the XSpace protobuf the profiler writes) back: every TensorFlow op
executed in the step, its type, and the Keras layer it belongs to (from the
op's name scope). Prints two tables of op time per step: by layer class
(Conv2D, BatchNormalization, ...: which part of the network costs what) and
by op type (which kernels run: ``_MklNativeConv2DBackpropFilter``,
``_MklNativeFusedBatchNormV3``, ...).

Op time is summed over TensorFlow's inter-op threads, so it exceeds the
wall-clock step time when ops run side by side; the shares are what to read.

Usage::

    python benchmarks/profile_step.py --impl ours --precision mixed_bfloat16
    python benchmarks/profile_step.py --impl plain --json plain.json
    python benchmarks/profile_step.py --quick          # harness check, seconds
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402

# Names of the profiler's own bookkeeping events on the compute threads.
_NOT_OPS = ("ExecutorState::Process",)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", choices=("ours", "plain"), default="ours")
    parser.add_argument(
        "--precision", choices=("float32", "mixed_bfloat16"), default="float32"
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=2, help="profiled train steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--width-multiplier", type=float, default=1.0)
    parser.add_argument("--top", type=int, default=15, help="rows of the op-type table")
    parser.add_argument("--json", dest="json_path", help="also write the results here")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: checks the harness"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.width_multiplier, args.batch_size = 0.125, 8
        args.steps, args.warmup = 1, 1
    for name in ("batch_size", "steps", "top"):
        if getattr(args, name) < 1:
            parser.error(
                f"--{name.replace('_', '-')} must be >= 1. Received: {name}={getattr(args, name)}"
            )
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0. Received: warmup={args.warmup}")
    if args.width_multiplier <= 0:
        parser.error(
            f"--width-multiplier must be > 0. Received: width_multiplier={args.width_multiplier}"
        )
    return args


def build(args):
    import keras

    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy(args.precision)
    if args.impl == "ours":
        import keras_resnet

        model = keras_resnet.build_model(
            "resnet18", width_multiplier=args.width_multiplier
        )
    else:
        model = _common.build_plain_keras_resnet18(args.width_multiplier)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        jit_compile=False,
    )
    return model


def record(model, args, logdir: str) -> float:
    """Profile ``args.steps`` train steps into ``logdir``; wall seconds per step."""
    import tensorflow as tf

    images, labels = _common.synthetic_batch(args.batch_size)
    for _ in range(args.warmup):
        model.train_on_batch(images, labels)
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    for _ in range(args.steps):
        model.train_on_batch(images, labels)
    seconds = (time.perf_counter() - start) / args.steps
    tf.profiler.experimental.stop()
    return seconds


def op_events(logdir: str):
    """``(op name, op type, milliseconds)`` of every op the trace holds."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = sorted(Path(logdir).rglob("*.xplane.pb"))
    if not paths:
        raise SystemExit(f"error: the profiler wrote no trace under {logdir}")
    space = xplane_pb2.XSpace()
    space.ParseFromString(paths[-1].read_bytes())
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if name in _NOT_OPS or ":" not in name:
                    continue
                op_name, op_type = name.rsplit(":", 1)
                yield op_name, op_type, event.duration_ps / 1e9


def layer_classes(model) -> dict[str, str]:
    """Layer name -> class name, for every layer of ``model``."""
    return {layer.name: type(layer).__name__ for layer in model.layers}


def layer_of(op_name: str, classes: dict[str, str]) -> str:
    """The class of the Keras layer whose name scope ``op_name`` is in.

    TensorFlow scopes ops as ``[gradient_tape/]model/layer_1/...``; the
    layer part may carry a ``_N`` suffix that Keras adds to name scopes.
    """
    for part in op_name.split("/"):
        if part in classes:
            return classes[part]
        stem, _, suffix = part.rpartition("_")
        if suffix.isdigit() and stem in classes:
            return classes[stem]
    return "(optimizer, loss, other)"


def summarize(events, classes: dict[str, str], steps: int, top: int) -> dict:
    by_class = collections.Counter()
    by_type = collections.Counter()
    for op_name, op_type, ms in events:
        by_class[layer_of(op_name, classes)] += ms / steps
        by_type[op_type] += ms / steps
    total = sum(by_type.values())
    if total <= 0:
        raise SystemExit("error: the trace holds no TensorFlow op events")

    def rows(counter, limit=None):
        return [
            {"name": name, "ms_per_step": ms, "share": ms / total}
            for name, ms in counter.most_common(limit)
        ]

    return {
        "op_ms_per_step": total,
        "by_layer_class": rows(by_class),
        "by_op_type": rows(by_type, top),
    }


def render(summary: dict, key: str, header: str) -> str:
    rows = [
        [row["name"], f"{row['ms_per_step']:.1f}", f"{100 * row['share']:.1f}%"]
        for row in summary[key]
    ]
    return _common.format_table([header, "op ms/step", "share"], rows)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    if keras.backend.backend() != "tensorflow":
        print(
            "error: the TensorFlow profiler needs KERAS_BACKEND=tensorflow; "
            f"it is {keras.backend.backend()}",
            file=sys.stderr,
        )
        return 2
    model = build(args)
    load_before = _common.loadavg()
    with tempfile.TemporaryDirectory(prefix="profile_step-") as logdir:
        step_seconds = record(model, args, logdir)
        summary = summarize(
            list(op_events(logdir)), layer_classes(model), args.steps, args.top
        )
    result = {
        "impl": args.impl,
        "precision": args.precision,
        "batch_size": args.batch_size,
        "width_multiplier": args.width_multiplier,
        "steps": args.steps,
        "wall_s_per_step": step_seconds,
        "images_per_s": args.batch_size / step_seconds,
        "load_before": load_before,
        "machine": _common.machine_info(),
        **summary,
    }
    print(
        f"{args.impl}, {args.precision}, batch {args.batch_size}: "
        f"{step_seconds * 1e3:.0f} ms/step wall under the profiler, "
        f"{summary['op_ms_per_step']:.0f} ms/step op time (load before {load_before})"
    )
    print(render(summary, "by_layer_class", "layer class"))
    print()
    print(render(summary, "by_op_type", "op type"))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

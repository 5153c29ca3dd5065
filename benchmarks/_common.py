"""Helpers shared by the benchmark scripts.

Frameworks are imported inside the functions that need them, so a process
that only runs PyTorch never imports Keras and the reverse: each framework
is timed in its own process with its own thread pools.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

# ResNet-18 for 32x32 inputs, 10 classes (3x3 stem, basic blocks 2/2/2/2).
RESNET18_PARAMS = 11_173_962
STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))


def he_cifar_layout(blocks_per_stage: int) -> tuple:
    """He et al.'s CIFAR ResNet-(6n+2): a 3x3/16 stem, then ``n`` basic blocks
    at 16, 32 and 64 filters (strides 1/2/2), as ``keras_resnet``'s
    ``mini_resnet`` builds it."""
    n = blocks_per_stage
    return (16, ((16, n, 1), (32, n, 2), (64, n, 2)))


# Every network the benchmarks time, as (stem filters, ((filters, blocks,
# first stride), ...)): basic blocks, 1x1 projection shortcuts (He et al.'s
# option B) only where the shape changes. Keys name the network.
LAYOUTS = {
    "resnet20": he_cifar_layout(3),
    "resnet56": he_cifar_layout(9),
    "resnet18": (64, tuple((f, 2, s) for f, s in STAGES)),
}
# Trainable parameters with 10 classes at width 1 (keras_resnet's counts).
PARAMS = {"resnet20": 272_474, "resnet56": 855_770, "resnet18": RESNET18_PARAMS}


def loadavg() -> str:
    """The 1-, 5- and 15-minute load averages, as ``/proc/loadavg`` shows them."""
    try:
        with open("/proc/loadavg", encoding="ascii") as stream:
            return " ".join(stream.read().split()[:3])
    except OSError:
        return "n/a"


def machine_info() -> dict:
    """CPU model, core count, memory and Python version of this machine."""
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_model": platform.processor() or "unknown",
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="utf-8") as stream:
            kib = int(stream.readline().split()[1])
            info["memory_gib"] = round(kib / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return info


def time_windows(
    step: Callable[[], object],
    *,
    images_per_step: int,
    steps: int,
    windows: int,
    warmup: int,
) -> dict:
    """Time ``windows`` windows of ``steps`` calls of ``step`` each.

    ``step`` must block until its work is done (return a host value). The
    first ``warmup`` steps (tracing, compilation, allocation) are not timed.
    Besides wall-clock images/s, the process's CPU time (user + system, all
    threads) gives images per CPU-second, which other processes on a shared
    machine disturb far less than the wall-clock rate.

    Returns:
        ``images_per_s`` (median of the windows), ``min``, ``max``,
        ``windows`` (every window's rate) and ``images_per_cpu_s`` (median).
    """
    for _ in range(warmup):
        step()
    rates, cpu_rates = [], []
    for _ in range(windows):
        cpu, start = _cpu_seconds(), time.perf_counter()
        for _ in range(steps):
            step()
        images = steps * images_per_step
        rates.append(images / (time.perf_counter() - start))
        cpu_rates.append(images / max(_cpu_seconds() - cpu, 1e-9))
    return {
        "images_per_s": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
        "windows": rates,
        "images_per_cpu_s": statistics.median(cpu_rates),
    }


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (also readable as plain text)."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
        for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def run_json_child(command: list[str], env: dict, timeout: float | None = None) -> dict:
    """Run a worker process and parse the JSON object on its last stdout line.

    Args:
        command: The worker's command line.
        env: Its environment.
        timeout: Seconds after which the worker is killed (None: no limit).

    Raises:
        RuntimeError: If the worker fails, prints no JSON or runs past
            ``timeout`` (with its stderr).
    """
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=timeout
        )
    except subprocess.TimeoutExpired as error:
        stderr = error.stderr or b""
        raise RuntimeError(
            f"worker {' '.join(command[1:4])} killed after {timeout:g} s:\n"
            + (
                stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
            )[-4000:]
        ) from None
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise RuntimeError(
            f"worker {' '.join(command[1:4])} failed (exit {result.returncode}):\n"
            + result.stderr[-4000:]
        )
    return json.loads(lines[-1])


def synthetic_batch(batch_size: int, seed: int = 0):
    """A fixed float32 NHWC batch in [0, 1) and int64 labels in [0, 10)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    images = rng.random((batch_size, 32, 32, 3), dtype=np.float32)
    labels = rng.integers(0, 10, size=batch_size, dtype=np.int64)
    return images, labels


def scaled(filters: int, width_multiplier: float) -> int:
    """Filters scaled like ``keras_resnet.models.blocks.scaled``."""
    return max(1, int(round(filters * width_multiplier)))


def build_plain_keras_resnet18(width_multiplier: float = 1.0, num_classes: int = 10):
    """ResNet-18 written inline with stock Keras layers, as a user would.

    The reference against which the package's builder is timed: the same
    layers and parameter count, none of the package's code.
    """
    return build_plain_keras_resnet("resnet18", width_multiplier, num_classes)


def build_plain_keras_resnet(
    model: str = "resnet18", width_multiplier: float = 1.0, num_classes: int = 10
):
    """A network of ``LAYOUTS`` written inline with stock Keras layers.

    conv-BN-ReLU stem, basic blocks (conv-BN-ReLU, conv-BN, add, ReLU) with a
    1x1 conv-BN projection where stride or width changes, global average
    pooling and a softmax classifier: the layers and parameter count of
    ``keras_resnet``'s builder, none of its code.

    Args:
        model: A key of ``LAYOUTS`` (``"resnet20"``, ``"resnet56"``,
            ``"resnet18"``).
        width_multiplier: Scales every layer's filters.
        num_classes: Classifier outputs.
    """
    import keras
    from keras import layers

    def conv(x, filters, kernel, strides=1):
        return layers.Conv2D(
            filters,
            kernel,
            strides,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
        )(x)

    def bn(x):
        return layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(x)

    stem, stages = LAYOUTS[model]
    inputs = keras.Input((32, 32, 3))
    x = layers.ReLU()(bn(conv(inputs, scaled(stem, width_multiplier), 3)))
    for filters, blocks, first_stride in stages:
        filters = scaled(filters, width_multiplier)
        for strides in (first_stride,) + (1,) * (blocks - 1):
            y = layers.ReLU()(bn(conv(x, filters, 3, strides)))
            y = bn(conv(y, filters, 3))
            if strides != 1 or x.shape[-1] != filters:
                x = bn(conv(x, filters, 1, strides))
            x = layers.ReLU()(layers.Add()([x, y]))
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"plain_{model}")


def build_torch_resnet18(width_multiplier: float = 1.0, num_classes: int = 10):
    """The same CIFAR ResNet-18 in PyTorch (``torch.nn`` modules only)."""
    return build_torch_resnet("resnet18", width_multiplier, num_classes)


def build_torch_resnet(
    model: str = "resnet18", width_multiplier: float = 1.0, num_classes: int = 10
):
    """A network of ``LAYOUTS`` in PyTorch (``torch.nn`` modules only).

    The layout and parameter count of ``build_plain_keras_resnet``: for
    ``"resnet20"``/``"resnet56"`` He et al.'s CIFAR ResNet (3x3/16 stem,
    three stages at 16/32/64 filters, 1x1 projection shortcuts where the
    shape changes), for ``"resnet18"`` the CIFAR ResNet-18.

    Args:
        model: A key of ``LAYOUTS``.
        width_multiplier: Scales every layer's filters.
        num_classes: Classifier outputs.
    """
    from torch import nn

    def conv_bn(cin, cout, kernel, strides):
        return [
            nn.Conv2d(cin, cout, kernel, strides, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(cout),
        ]

    class Block(nn.Module):
        def __init__(self, cin, cout, strides):
            super().__init__()
            self.body = nn.Sequential(
                *conv_bn(cin, cout, 3, strides),
                nn.ReLU(inplace=True),
                *conv_bn(cout, cout, 3, 1),
            )
            projection = strides != 1 or cin != cout
            self.shortcut = (
                nn.Sequential(*conv_bn(cin, cout, 1, strides))
                if projection
                else nn.Identity()
            )

        def forward(self, x):
            return (self.body(x) + self.shortcut(x)).relu_()

    stem, stages = LAYOUTS[model]
    width = scaled(stem, width_multiplier)
    modules = [*conv_bn(3, width, 3, 1), nn.ReLU(inplace=True)]
    for filters, blocks, first_stride in stages:
        filters = scaled(filters, width_multiplier)
        for strides in (first_stride,) + (1,) * (blocks - 1):
            modules.append(Block(width, filters, strides))
            width = filters
    modules += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)]
    return nn.Sequential(*modules)


def count_torch_params(model) -> int:
    """Trainable parameters of a ``torch.nn.Module``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def python_with(module: str, candidates: Sequence[str | None]) -> str | None:
    """The first interpreter in ``candidates`` that can import ``module``."""
    for python in candidates:
        if not python:
            continue
        probe = subprocess.run(
            [python, "-c", f"import {module}"], capture_output=True, text=True
        )
        if probe.returncode == 0:
            return python
    return None


def current_python() -> str:
    """This interpreter's path."""
    return sys.executable


def load_predictor(target: str):
    """A predictor for a run directory, a ``.keras`` file or ``model:weights``
    (weights shipped with the package, e.g. ``mini_resnet:cifar10``)."""
    model, sep, weights = target.partition(":")
    if sep and not pathlib.Path(target).exists():
        from keras_resnet.inference import load_pretrained_predictor

        return load_pretrained_predictor(model, weights)
    from keras_resnet.inference import load_predictor as load

    return load(target)


def write_result(result: dict, out: pathlib.Path | None = None) -> pathlib.Path:
    """Write ``result`` as indented JSON to ``out``, by default
    ``benchmarks/results/<result["benchmark"]>-<result["date"]>.json``."""
    if out is None:
        results = pathlib.Path(__file__).resolve().parent / "results"
        out = results / f"{result['benchmark']}-{result['date']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return out

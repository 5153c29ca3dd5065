"""Data-parallel scaling on one machine: 1 process x 2 cores vs 2 x 1 core.

Trains the same run (``keras-resnet fit --strategy data_parallel``, JAX on
CPU) twice: once as one process pinned to cores 0-1, once as two processes
on loopback (gloo all-reduce), each pinned to its own core. Both see the
same global batch and data order. The steady epoch time (median over the
epochs after the first, which compiles) gives the throughput; the scaling
ratio is two-process throughput over one-process throughput. On one host
the two processes split the same cores and add an all-reduce per step, so
a ratio below 1.0 is expected here: this measures the overhead, not a
speed-up (that needs more hosts).

Usage:
    python benchmarks/data_parallel_scaling.py           # a few minutes
    python benchmarks/data_parallel_scaling.py --quick   # checks the harness
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from _common import format_table, loadavg, machine_info

REPO = pathlib.Path(__file__).resolve().parents[1]
CLI = "import sys; from keras_resnet.cli import main; sys.exit(main())"


def fit_args(run_dir: pathlib.Path, quick: bool) -> list[str]:
    examples, epochs = (256, 2) if quick else (2048, 4)
    return [
        "fit",
        "mini_resnet",
        "--dataset=synthetic",
        "--width-multiplier=0.25",
        "--model-option=blocks_per_stage=1",
        f"--max-train-examples={examples}",
        "--max-test-examples=64",
        "--validation-split=0",
        f"--epochs={epochs}",
        "--batch-size=64",
        "--grad-norm-every=0",
        "--seed=0",
        "--strategy=data_parallel",
        "--quiet",
        f"--output-dir={run_dir}",
    ]


def run(processes: int, cores_each: int, work: pathlib.Path, quick: bool) -> dict:
    """Train with ``processes`` processes pinned to ``cores_each`` cores each."""
    run_dir = work / f"{processes}x{cores_each}"
    port = _free_port()
    started, children = time.perf_counter(), []
    for index in range(processes):
        env = {
            **os.environ,
            "KERAS_BACKEND": "jax",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
        }
        if processes > 1:
            env["KERAS_DISTRIBUTION_JOB_ADDRESSES"] = f"127.0.0.1:{port}"
            env["KERAS_DISTRIBUTION_NUM_PROCESSES"] = str(processes)
            env["KERAS_DISTRIBUTION_PROCESS_ID"] = str(index)
        cores = set(range(index * cores_each, (index + 1) * cores_each))
        children.append(
            subprocess.Popen(
                [sys.executable, "-c", CLI, *fit_args(run_dir, quick)],
                cwd=REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                preexec_fn=lambda cores=cores: os.sched_setaffinity(0, cores),
            )
        )
    for child in children:
        _, err = child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"fit failed ({processes} processes):\n{err[-3000:]}")
    wall = time.perf_counter() - started
    history = json.loads((run_dir / "history.json").read_text())
    dataset = json.loads((run_dir / "dataset.json").read_text())
    # The median: one epoch slowed by other work on the machine does not count.
    epoch_seconds = statistics.median(history["epoch_time"][1:])
    return {
        "processes": processes,
        "cores_per_process": cores_each,
        "train_examples": dataset["train_size"],
        "epoch_seconds": history["epoch_time"],
        "steady_epoch_seconds": epoch_seconds,
        "images_per_second": dataset["train_size"] / epoch_seconds,
        "wall_seconds": wall,
        "loss": history["loss"],
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run")
    parser.add_argument("--output", help="JSON file (default benchmarks/results/)")
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("needs two cores")
    load_before = loadavg()
    with tempfile.TemporaryDirectory() as work:
        one = run(1, 2, pathlib.Path(work), args.quick)
        two = run(2, 1, pathlib.Path(work), args.quick)
    ratio = two["images_per_second"] / one["images_per_second"]
    rows = [
        [
            f"{r['processes']} x {r['cores_per_process']} core(s)",
            f"{r['steady_epoch_seconds']:.2f}",
            f"{r['images_per_second']:.0f}",
            f"{r['images_per_second'] / one['images_per_second']:.2f}",
        ]
        for r in (one, two)
    ]
    print(format_table(["layout", "s / epoch", "images / s", "vs 1 process"], rows))
    result = {
        "benchmark": "data_parallel_scaling",
        "date": datetime.date.today().isoformat(),
        "quick": args.quick,
        "machine": machine_info(),
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "runs": [one, two],
        "scaling_ratio": ratio,
    }
    output = args.output or (
        REPO
        / "benchmarks"
        / "results"
        / f"data_parallel_scaling-{result['date']}{'-quick' if args.quick else ''}.json"
    )
    pathlib.Path(output).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()

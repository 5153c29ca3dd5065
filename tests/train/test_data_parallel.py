"""``--strategy data_parallel``: two ``keras-resnet fit`` processes on loopback
(JAX on CPU, gloo collectives), against one process with the same flags.

The runs are module-scoped and shared by the tests: the one-process run,
and one two-process run that is killed in its second epoch and resumed.
"""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from import_blocker import blocked_python
from jax_env import FAST_XLA, compilation_cache
from train_helpers import REPO, run_python

LOSS_TOLERANCE = 0.01  # relative, per epoch
# Augmentation off: with it, even one process over two devices drifts from
# one device after a few steps (a crop offset rounds differently under
# another XLA fusion), which the tolerance would not absorb at this
# learning rate on 128 images.
FLAGS = [
    "mini_resnet",
    "--width-multiplier=0.125",
    "--model-option=blocks_per_stage=1",
    "--epochs=3",
    "--batch-size=32",
    "--validation-split=0.2",
    "--augment=none",
    "--grad-norm-steps=0",
    "--grad-probe-size=32",
    "--seed=1",
    "--strategy=data_parallel",
    "--quiet",
]
CLI = "import sys; from keras_resnet.cli import main; sys.exit(main())"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_fit(
    run_dir, data, *, processes=2, port=None, scratch=None, extra=(), cache=None
):
    """Start ``processes`` fit processes (one without KERAS_DISTRIBUTION_*),
    sharing JAX's compiled programs in ``cache`` when given."""
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": f"--xla_force_host_platform_device_count=1 {FAST_XLA}",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **(compilation_cache(cache) if cache is not None else {}),
    }
    if scratch is not None:
        env["TMPDIR"] = str(scratch)
    args = [sys.executable, "-c", CLI, "fit", *FLAGS, f"--dataset={data}"]
    args += [f"--output-dir={run_dir}", *extra]
    started = []
    for index in range(processes):
        if processes > 1:
            env = {
                **env,
                "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{port}",
                "KERAS_DISTRIBUTION_NUM_PROCESSES": str(processes),
                "KERAS_DISTRIBUTION_PROCESS_ID": str(index),
            }
        started.append(
            subprocess.Popen(
                args,
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    return started


def finish(processes, timeout=900) -> list[subprocess.CompletedProcess]:
    done = []
    for process in processes:
        out, err = process.communicate(timeout=timeout)
        done.append(subprocess.CompletedProcess([], process.returncode, out, err))
    return done


def history(run_dir) -> dict:
    return json.loads((pathlib.Path(run_dir) / "history.json").read_text())


def assert_close(losses, expected):
    assert len(losses) == len(expected) == 3
    for got, want in zip(losses, expected, strict=True):
        assert abs(got - want) <= LOSS_TOLERANCE * abs(want), (losses, expected)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> pathlib.Path:
    """160 training and 32 test images of 16 px, four learnable classes."""
    rng = np.random.default_rng(0)

    def split(n):
        y = rng.integers(0, 4, n)
        x = rng.integers(0, 60, (n, 16, 16, 3)) + 60 * y[:, None, None, None]
        return x.astype("uint8"), y

    (x_train, y_train), (x_test, y_test) = split(160), split(32)
    path = tmp_path_factory.mktemp("data") / "shapes.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data) -> dict:
    """Two processes writing into ``two/`` whose process 1 is killed with
    SIGKILL once epoch 1 is backed up; then both resume in new processes
    (their own TMPDIR, to see that process 1 leaves nothing behind) and
    finish the run, beside one process (the reference).

    The killed-and-resumed run carries every check an uninterrupted
    two-process run would: the survivor's stop, the resume, and the
    finished run against the one-process reference.

    The processes share JAX's compilation cache (process 0 writes it): the
    reference and the resumed processes load what the killed run's process 0
    compiled instead of compiling it again. A process that reads an entry
    while another writes it warns and compiles; no check here reads their
    warnings.
    """
    cache = tmp_path_factory.mktemp("jax-cache")
    base = tmp_path_factory.mktemp("runs")
    scratch = base / "tmp"
    scratch.mkdir()
    run_dir = base / "two"
    chief, worker = start_fit(run_dir, data, port=free_port(), cache=cache)
    state = run_dir / "backup" / "state.json"
    deadline = time.monotonic() + 900
    while not state.is_file():
        assert chief.poll() is None and worker.poll() is None, finish([chief])
        assert time.monotonic() < deadline, "no backup after 15 minutes"
        time.sleep(0.2)
    worker.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    # The survivor must stop on its own, with one clear line.
    out, err = chief.communicate(timeout=120)
    stopped_after = time.monotonic() - killed_at
    worker.communicate()
    killed = {
        "chief": subprocess.CompletedProcess([], chief.returncode, out, err),
        "stopped_after": stopped_after,
        "state": json.loads(state.read_text()),
        "metrics_written": (run_dir / "metrics.json").exists(),
    }
    # The reference runs beside the resumed processes, not beside the killed
    # ones.
    one = start_fit(base / "one", data, processes=1, cache=cache)
    resumed = finish(
        start_fit(
            run_dir,
            data,
            port=free_port(),
            scratch=scratch,
            extra=["--resume"],
            cache=cache,
        )
    )
    return {
        "base": base,
        "scratch": scratch,
        "one": finish(one),
        "killed": killed,
        "two": resumed,
    }


@pytest.mark.slow
def test_killed_process_stops_the_other_and_both_resume(runs):
    killed = runs["killed"]
    chief = killed["chief"]
    assert killed["stopped_after"] < 120
    assert chief.returncode != 0
    assert "Error: process 0 of 2: a collective failed" in chief.stderr, chief.stderr[
        -3000:
    ]
    assert "Traceback" not in chief.stderr
    assert killed["state"]["epoch"] >= 1
    assert not killed["metrics_written"]

    for result in runs["two"]:
        assert result.returncode == 0, result.stderr[-3000:]
    run_dir = runs["base"] / "two"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["completed"] is True and metrics["epochs"] == 3
    assert history(run_dir)["epoch"] == [1, 2, 3]


@pytest.mark.slow
def test_two_processes_write_one_run_with_the_losses_of_one_process(runs):
    base = runs["base"]
    for result in [*runs["one"], *runs["two"]]:
        assert result.returncode == 0, result.stderr[-3000:]
    # Process 0 alone wrote a run directory; the resumed process 1's
    # scratch is gone.
    assert sorted(p.name for p in base.iterdir()) == ["one", "tmp", "two"]
    assert not list(runs["scratch"].glob("keras-resnet-worker-*"))
    two = base / "two"
    metrics = json.loads((two / "metrics.json").read_text())
    assert metrics["completed"] is True and metrics["replicas"] == 2
    assert json.loads((base / "one" / "metrics.json").read_text())["replicas"] == 1
    assert_close(history(two)["loss"], history(base / "one")["loss"])
    # Gradient norms: recorded once per (epoch, step), over the global probe.
    norms = json.loads((two / "gradient_norms.json").read_text())
    single = json.loads((base / "one" / "gradient_norms.json").read_text())
    keys = [(r["epoch"], r["step"]) for r in norms["records"]]
    assert keys == [(0, 0), (1, 0), (2, 0), (3, 0)]
    first, expected = norms["records"][0]["norms"], single["records"][0]["norms"]
    assert first == pytest.approx(expected, rel=1e-4)
    assert not (two / "backup").exists()  # removed once the run completed
    assert (two / "model.keras").is_file() and (two / "best.keras").is_file()


BATCH_CHECK = """
import keras
from keras_resnet.train import distribute
try:
    distribute.setup("data_parallel", 33)
except ValueError as error:
    print("ERROR", error)
"""


def test_batch_not_divisible_by_the_devices_is_refused():
    result = run_python(
        BATCH_CHECK,
        env={
            "KERAS_BACKEND": "jax",
            "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        },
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        "ERROR batch_size must be a multiple of the 2 devices that data_parallel "
        "splits each global batch over (1 process(es) x 2 device(s)). "
        "Received: batch_size=33"
    ) in result.stdout


def test_data_parallel_on_tensorflow_is_refused_in_one_line(tmp_path):
    # Refused before Keras starts: in a process where it cannot be imported.
    result = blocked_python(
        CLI,
        "keras",
        "tensorflow",
        "jax",
        args=["fit", *FLAGS, "--dataset=synthetic", f"--output-dir={tmp_path / 'run'}"],
        cwd=REPO,
        env={"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=120,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(
        "Error: strategy data_parallel needs the jax backend (KERAS_BACKEND=jax), "
        "not tensorflow"
    ), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


GLOO_LOST = (
    "UNKNOWN: Gloo AllGather failed: [external/gloo/gloo/transport/tcp/pair.cc:538]"
    " Read error [127.0.0.1]:17040: Connection reset by peer"
)


def _reraised_as_value_error():
    from jax.errors import JaxRuntimeError

    try:
        raise JaxRuntimeError("UNKNOWN: all-reduce failed")
    except JaxRuntimeError as error:
        raise ValueError("could not gather the batch") from error


@pytest.mark.parametrize(
    "fail, shown",
    [
        (lambda: _raise(ValueError(GLOO_LOST)), "UNKNOWN: Gloo AllGather failed"),
        (_reraised_as_value_error, "could not gather the batch"),
    ],
    ids=["gloo message", "raised from a JaxRuntimeError"],
)
def test_a_lost_process_in_any_error_type_becomes_the_one_line_message(
    monkeypatch, fail, shown
):
    # A process that dies while the other compiles or gathers an input
    # reaches the survivor as a ValueError, not a JaxRuntimeError.
    from keras_resnet.errors import TrainingError
    from keras_resnet.train import distribute

    # "failed" already set: no exit hook is registered in the test process.
    monkeypatch.setitem(distribute._runtime, "multi_process", True)
    monkeypatch.setitem(distribute._runtime, "failed", True)
    monkeypatch.setattr(distribute, "process_index", lambda: 0)
    monkeypatch.setattr(distribute, "process_count", lambda: 2)
    with pytest.raises(TrainingError) as raised:
        with distribute.process_failures():
            fail()
    message = str(raised.value)
    assert message.startswith("process 0 of 2: a collective failed"), message
    assert shown in message and "--resume" in message
    # Other errors of a multi-process run stay what they are.
    with pytest.raises(ValueError, match="batch_size"):
        with distribute.process_failures():
            raise ValueError("batch_size must be positive")


def _raise(error):
    raise error

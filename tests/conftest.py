"""Fixtures for the whole suite: the shared CIFAR copy and one trained run."""

import dataclasses
import fcntl
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
from file_checks import checksums
from tiny import tiny_fit_args

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# In-process tests run with TensorFlow's own oneDNN default, as a program
# using the library does; the command's setting (oneDNN on) is what every
# CLI subprocess and tests/train/test_onednn.py run with.

REPO = pathlib.Path(__file__).resolve().parents[1]
# The console script's entry point (cli.py would set TF_CPP_MIN_LOG_LEVEL).
ENTRY_POINT = "from keras_resnet.cli import main; main()"
SHARED_CIFAR = REPO.parent / "shared" / "data" / "cifar10-jpeg"
# The test files that take 10 s or more (sum of their tests' durations,
# measured with `pytest --durations=0` in a full run), longest first; the
# rest follow in file order. Listing every long file keeps the last files
# to start short, so that neither worker is left alone at the end.
LONGEST_FIRST = (
    "tests/train/test_engine.py",
    "tests/cli/test_readme_quickstart.py",
    "tests/study/test_study_end_to_end.py",
    "tests/train/test_onednn.py",
    "tests/train/test_data_parallel.py",
    "tests/export/test_fresh_process.py",
    "tests/models/test_pretrained.py",
    "tests/test_without_tensorflow.py",
    "tests/cli/test_fit_safety.py",
    "tests/models/test_catalog.py",
    "tests/benchmarks/test_train_throughput.py",
    "tests/benchmarks/test_init_gradients.py",
    "tests/train/test_distribute.py",
    "tests/models/test_builders.py",
    "tests/train/test_engine_jax.py",
    "tests/train/test_saved_files.py",
    "tests/export/test_export_jax.py",
    "tests/export/test_export.py",
    "tests/data/test_shared_cifar.py",
    "tests/benchmarks/test_train_throughput_sweep.py",
    "tests/study/test_study_cli.py",
    "tests/cli/test_bad_input_cli.py",
    "tests/train/test_gradient_instrument.py",
    "tests/train/test_recorder.py",
    "tests/export/test_saved_model.py",
    "tests/benchmarks/test_profile_step.py",
    "tests/train/test_run_safety.py",
    "tests/data/test_tfds.py",
    "tests/study/test_study_variants.py",
    "tests/cli/test_cli_commands.py",
    "tests/benchmarks/test_train_grad_norm_overhead.py",
)

# The run `trained_run` holds: 128 train, 32 validation and 64 test images,
# two epochs (a resume or a progress line has a second epoch to talk about).
TRAINED_RUN = dict(
    epochs=2,
    max_train_examples=160,
    max_test_examples=64,
    validation_split=0.2,
    grad_norm_steps=[0],
    verbose=None,  # the command's default: one plain line per epoch
)


def pytest_collection_modifyitems(config, items):
    """Put the longest test files first, keeping every file's own order.

    The README's test command runs on pytest-xdist workers, one file per
    worker at a time (``--dist loadfile``, in collection order): starting the
    longest files first keeps one worker from being left with a long file
    when the other has finished.
    """
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}

    def key(item):
        path = item.nodeid.split("::", 1)[0]
        return rank.get(path, len(rank))

    items.sort(key=key)  # stable: files keep their order, tests theirs


@dataclasses.dataclass(frozen=True)
class TrainedRun:
    """A finished ``keras-resnet fit`` run and what the command printed.

    Attributes:
        path: The run directory.
        args: The ``keras-resnet`` arguments that made it, but for
            ``--output-dir``.
        stdout: The command's standard output.
        stderr: The command's standard error.
    """

    path: pathlib.Path
    args: list[str]
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def shared_cifar_dir():
    """The shared real CIFAR-10 JPEG copy (skips the test when absent)."""
    if not (SHARED_CIFAR / "train.tar.gz").is_file():
        pytest.skip(f"shared CIFAR-10 copy not found at {SHARED_CIFAR}")
    return SHARED_CIFAR


@pytest.fixture(scope="session")
def shared_cifar_cache(shared_cifar_dir, tmp_path_factory) -> pathlib.Path:
    """A decode cache folder holding the shared copy, decoded once per session.

    The tests that read all 60,000 images point ``KERAS_RESNET_CACHE`` here
    (never at the home folder). The first pytest-xdist worker to need it
    decodes the copy with ``load_dataset`` under a file lock (the decode
    under test, with its cache write); the others wait for the lock and read
    the cache, as every later run of the command does.
    """
    folder = _session_folder(tmp_path_factory) / "cifar_cache"
    with open(f"{folder}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not any(folder.glob("imagefolder-*.npz")):
            from keras_resnet.data import load_dataset

            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("KERAS_RESNET_CACHE", str(folder))
                load_dataset(str(shared_cifar_dir))
    return folder


def _session_folder(tmp_path_factory) -> pathlib.Path:
    """A folder every pytest-xdist worker of this session sees.

    Under xdist each worker's base temporary folder (``popen-gw0``, ...) sits
    in the session's own ``pytest-N`` folder; without xdist the base folder
    is the session's.
    """
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _make_trained_run(folder: pathlib.Path, args: list[str]) -> int:
    """Run ``keras-resnet fit ARGS`` into ``folder/run``; return its status."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    out, err = folder / "stdout.log", folder / "stderr.log"
    with out.open("w") as stdout, err.open("w") as stderr:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                ENTRY_POINT,
                *args,
                "--output-dir",
                str(folder / "run"),
            ],
            stdout=stdout,
            stderr=stderr,
            env=env,
            cwd=folder,
            timeout=600,
        )
    return done.returncode


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> TrainedRun:
    """A tiny run made once per session by the real command in a new process.

    ``keras-resnet fit mini_resnet ...`` on synthetic data with the
    TensorFlow backend and TensorFlow's own log level (``TF_CPP_MIN_LOG_LEVEL``
    unset), stdout and stderr redirected to files as in a batch job. Tests
    that only read the run use it as is; a test that writes to it (or checks
    that a failing command leaves it alone) uses ``trained_run_copy``. The
    run's files are checked unchanged at the end of the session (by each
    worker).

    The pytest-xdist workers share one run: the first to need it makes it
    under a file lock, the others wait for the lock and read what it made
    (training it once per worker cost each worker the same CPU time).
    """
    folder = _session_folder(tmp_path_factory) / "trained_run"
    args = ["fit", *tiny_fit_args(**TRAINED_RUN)]
    with open(f"{folder}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        status = folder / "returncode"
        if not status.is_file():
            shutil.rmtree(folder, ignore_errors=True)  # a worker killed midway
            folder.mkdir()
            status.write_text(str(_make_trained_run(folder, args)))
    run = TrainedRun(
        folder / "run",
        args,
        (folder / "stdout.log").read_text(),
        (folder / "stderr.log").read_text(),
    )
    assert status.read_text() == "0", run.stderr[-3000:]
    before = checksums(run.path)
    yield run
    assert checksums(run.path) == before, (
        "a test changed the shared trained_run; use trained_run_copy"
    )


@pytest.fixture
def trained_run_copy(trained_run, tmp_path) -> pathlib.Path:
    """A private copy of ``trained_run``'s directory, free to change."""
    return pathlib.Path(shutil.copytree(trained_run.path, tmp_path / "run"))

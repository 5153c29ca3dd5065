"""`keras-resnet fit` never costs data: --overwrite replaces a run only once
the new one has loaded and built, a failed fit leaves no directory it
created, a run directory is locked while written, --resume needs a run."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import keras
import pytest
from click.testing import CliRunner
from file_checks import checksums
from tiny import tiny_config, tiny_fit_args

from keras_resnet.cli import cli
from keras_resnet.errors import TrainingInterrupted
from keras_resnet.train import TrainConfig, train

pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[2]
# A fit that fails or finishes fast: no validation split, no gradient norms.
TINY = tiny_fit_args(
    epochs=1,
    max_train_examples=64,
    max_test_examples=16,
    validation_split=0,
    grad_norm_every=0,
    grad_norm_steps=None,
    verbose=None,
) + ["-q"]


def run(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def one_error_line(result) -> str:
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


# -- --overwrite ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "codes", "fragment"),
    [
        (["--dataset", "/no/such/path"], (1,), "/no/such/path"),
        (["--model-option", "nosuchkw=3"], (1, 2), "nosuchkw"),
    ],
    ids=["bad-dataset", "bad-model-option"],
)
def test_overwrite_keeps_the_old_run_when_the_new_one_fails(
    trained_run_copy, args, codes, fragment
):
    before = checksums(trained_run_copy)
    result = run("fit", *TINY, *args, "--overwrite", "-o", trained_run_copy)
    assert result.exit_code in codes, result.output
    assert fragment in one_error_line(result)
    assert checksums(trained_run_copy) == before


# -- a failed fit leaves nothing --------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["--dataset", "/no/such/path"], ["--model-option", "nosuchkw=3"]],
    ids=["bad-dataset", "bad-model-option"],
)
def test_a_failed_fit_leaves_no_directory_it_created(tmp_path, args):
    result = run("fit", *TINY, *args, "-o", tmp_path / "runs" / "new")
    assert result.exit_code != 0
    one_error_line(result)
    assert list(tmp_path.iterdir()) == []

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    before = checksums(mine)
    result = run("fit", *TINY, *args, "-o", mine)
    assert result.exit_code != 0
    assert checksums(mine) == before
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


# -- --resume ------------------------------------------------------------------------


def test_resume_needs_an_existing_run(tmp_path):
    (tmp_path / "empty").mkdir()
    for args in (
        ["--resume", "-o", tmp_path / "missing"],
        ["--resume", "-o", tmp_path / "empty"],
        [*TINY, "--resume", "-o", tmp_path / "missing"],
    ):
        result = run("fit", *args)
        assert result.exit_code == 2, result.output
        line = one_error_line(result)
        assert "not a run directory" in line and str(args[-1]) in line
        why = "holds no config.yaml" if args[-1].name == "empty" else "does not exist"
        assert why in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_resume_of_a_finished_run_refuses_and_names_epochs(trained_run_copy):
    before = checksums(trained_run_copy)
    result = run("fit", "--resume", "-o", trained_run_copy)
    assert result.exit_code == 1
    assert "completed run of 2 epochs; there is nothing to resume" in one_error_line(
        result
    )
    result = run("fit", "--resume", "--epochs", "3", "-o", trained_run_copy)
    assert result.exit_code == 1
    assert "epochs cannot change on resume (2 -> 3)" in one_error_line(result)
    assert checksums(trained_run_copy) == before


class InterruptInSecondEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.epoch == 1:
            os.kill(os.getpid(), signal.SIGINT)


def test_resume_reads_the_run_config_and_refuses_changes(tmp_path):
    run_dir = tmp_path / "run"
    config = tiny_config(
        run_dir,
        max_train_examples=64,
        max_test_examples=16,
        validation_split=0.0,
        grad_norm_every=0,
        grad_norm_steps=None,
        learning_rate=0.1,
    )
    with pytest.raises(TrainingInterrupted):
        train(config, callbacks=[InterruptInSecondEpoch()])
    before = checksums(run_dir)
    for args, field in [
        (["--lr", "0.5"], "learning_rate (0.1 -> 0.5)"),
        (["--epochs", "3"], "epochs (2 -> 3)"),
        (["resnet18"], "model ('mini_resnet' -> 'resnet18')"),
    ]:
        result = run("fit", *args, "--resume", "-o", run_dir)
        assert result.exit_code == 1, result.output
        assert field in one_error_line(result)
    assert checksums(run_dir) == before

    result = run("fit", "--resume", "-o", run_dir, "-q")  # no MODEL: the run's own
    assert result.exit_code == 0, result.output
    history = json.loads((run_dir / "history.json").read_text())
    assert history["epoch"] == [1, 2]
    assert json.loads((run_dir / "metrics.json").read_text())["completed"] is True


# -- the lock ------------------------------------------------------------------------


def test_a_second_fit_on_a_run_in_progress_fails_at_once(tmp_path):
    run_dir = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, str(REPO / "cli.py"), "fit", *TINY, "--epochs", "12",
         "-o", str(run_dir)],
        cwd=REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not (run_dir / ".lock").exists():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first fit never locked"
            time.sleep(0.05)
        started = time.monotonic()
        second = run("fit", *TINY, "--epochs", "1", "-o", run_dir)
        assert time.monotonic() - started < 10
        assert second.exit_code == 1
        line = one_error_line(second)
        assert f"pid {first.pid}" in line and "in use by another fit" in line
        assert first.poll() is None  # it was really running
        out, err = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0, err[-2000:]
    config = TrainConfig.from_yaml(run_dir / "config.yaml")
    history = json.loads((run_dir / "history.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert config.epochs == 12 and history["epoch"] == list(range(1, 13))
    assert metrics["completed"] is True and metrics["epochs"] == 12
    assert not (run_dir / ".lock").exists()

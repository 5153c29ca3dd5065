"""Run directories: the lock, clean-up after a failure, resume checks, the
learning-rate column and loss scaling."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from train_helpers import tiny_config

from keras_resnet import run_layout
from keras_resnet.errors import (
    RunDirectoryError,
    RunLockedError,
    RunNotFoundError,
    TrainingError,
    TrainingInterrupted,
)
from keras_resnet.train import TrainConfig, rundir, train
from keras_resnet.train.optim import build_optimizer

# Two steps of 32 images, no validation, no gradient records: a few seconds.
SMALL = dict(
    max_train_examples=64,
    max_test_examples=16,
    validation_split=0.0,
    width_multiplier=0.125,
    grad_norm_every=0,
)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# -- the lock ---------------------------------------------------------------------


def test_a_live_lock_refuses_naming_the_pid(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / run_layout.LOCK_FILE).write_text(
            f"{holder.pid}@{os.uname().nodename}"
        )
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            with rundir.locked_run_dir(tmp_path):
                pass
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            rundir.check_run_dir(tmp_path, TrainConfig(), resume=False, overwrite=False)
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_is_taken_over_and_released(tmp_path):
    (tmp_path / run_layout.LOCK_FILE).write_text(f"{dead_pid()}@{os.uname().nodename}")
    with rundir.locked_run_dir(tmp_path):
        text = (tmp_path / run_layout.LOCK_FILE).read_text()
        assert text.startswith(f"{os.getpid()}@")
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            with rundir.locked_run_dir(tmp_path):  # not twice, even here
                pass
    assert not (tmp_path / run_layout.LOCK_FILE).exists()


# -- clean-up after a failure -------------------------------------------------


def test_failure_removes_a_directory_it_created_and_temporary_files(tmp_path):
    fresh = tmp_path / "runs" / "fresh"
    with pytest.raises(ValueError):
        with rundir.locked_run_dir(fresh):
            (fresh / "config.yaml.tmp").write_text("half")
            raise ValueError("bad dataset")
    assert not (tmp_path / "runs").exists()

    existing = tmp_path / "mine"
    existing.mkdir()
    (existing / "notes.txt").write_text("keep")
    with pytest.raises(ValueError):
        with rundir.locked_run_dir(existing):
            (existing / "best.tmp.keras").write_text("half")
            raise ValueError("bad dataset")
    assert sorted(p.name for p in existing.iterdir()) == ["notes.txt"]


def test_an_interrupted_run_keeps_its_directory(tmp_path):
    with pytest.raises(TrainingInterrupted):
        with rundir.locked_run_dir(tmp_path / "run"):
            (tmp_path / "run" / "model.keras").write_text("saved on Ctrl-C")
            raise TrainingInterrupted("stopped")
    assert (tmp_path / "run" / "model.keras").is_file()
    assert not (tmp_path / "run" / run_layout.LOCK_FILE).exists()


def test_stale_temporary_files_are_removed_when_a_run_starts(tmp_path):
    (tmp_path / "backup").mkdir()
    for name in ("config.yaml.tmp", "best.tmp.keras", "backup/x.tmp.weights.h5"):
        (tmp_path / name).write_text("left by a killed run")
    with rundir.locked_run_dir(tmp_path):
        assert sorted(p.name for p in tmp_path.rglob("*")) == [".lock", "backup"]


class PoisonFirstEpoch(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        if batch == 1:
            kernel = self.model.get_layer("mini_resnet").get_layer("stem_conv").kernel
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def test_nan_before_any_epoch_names_no_backup_and_leaves_nothing(tmp_path):
    config = tiny_config(tmp_path / "runs" / "nan", epochs=1, **SMALL)
    with pytest.raises(TrainingError) as error:
        train(config, callbacks=[PoisonFirstEpoch()])
    message = str(error.value)
    assert "NaN at epoch 1, batch 1" in message
    assert "no epoch completed, so there is no backup" in message
    assert "epoch 0" not in message
    assert not (tmp_path / "runs").exists()


# -- resume -------------------------------------------------------------------


def test_resume_needs_an_existing_run(tmp_path):
    for path in (tmp_path / "missing", tmp_path):
        with pytest.raises(RunNotFoundError, match="not a run directory") as error:
            train(tiny_config(path), resume=True)
        assert error.value.exit_code == 2
        assert str(path) in str(error.value)
    assert not (tmp_path / "missing").exists()


def test_resume_refuses_a_changed_epochs_for_unfinished_runs(tmp_path):
    config = TrainConfig(output_dir=str(tmp_path / "run"), epochs=2)
    (tmp_path / "run" / "backup").mkdir(parents=True)
    rundir.write_config(tmp_path / "run", config)
    run_layout.write_json(tmp_path / "run" / "backup" / "state.json", {"epoch": 1})
    with pytest.raises(RunDirectoryError, match=r"differs in epochs \(2 -> 3\)"):
        rundir.check_run_dir(
            tmp_path / "run", config.replace(epochs=3), resume=True, overwrite=False
        )
    rundir.check_run_dir(
        tmp_path / "run", config.replace(verbose=0), resume=True, overwrite=False
    )


def test_resume_of_a_completed_run_names_epochs(tmp_path):
    config = TrainConfig(output_dir=str(tmp_path / "run"), epochs=2)
    (tmp_path / "run").mkdir()
    rundir.write_config(tmp_path / "run", config)
    run_layout.write_json(tmp_path / "run" / "metrics.json", {"completed": True})
    with pytest.raises(RunDirectoryError, match="nothing to resume") as error:
        rundir.check_run_dir(tmp_path / "run", config, resume=True, overwrite=False)
    assert "cannot change" not in str(error.value)
    with pytest.raises(RunDirectoryError, match=r"epochs cannot change .*2 -> 3"):
        rundir.check_run_dir(
            tmp_path / "run", config.replace(epochs=3), resume=True, overwrite=False
        )


# -- the learning-rate column and loss scaling --------------------------------


def test_history_learning_rate_is_the_rate_of_the_epoch(tmp_path):
    config = tiny_config(
        tmp_path / "run", epochs=1, schedule="constant", learning_rate=0.05, **SMALL
    )
    result = train(config)
    assert result.history["learning_rate"] == [pytest.approx(0.05)]
    saved = json.loads((tmp_path / "run" / "history.json").read_text())
    assert saved["learning_rate"] == result.history["learning_rate"]


def test_mixed_float16_wraps_the_optimizer_in_loss_scaling(tmp_path):
    from keras_resnet.data import load_dataset
    from keras_resnet.train.engine import build_models

    config = tiny_config(tmp_path / "run", precision="mixed_float16")
    splits = load_dataset("synthetic", max_train_examples=64, max_test_examples=8)
    _, model = build_models(config, splits, steps_per_epoch=2)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert not isinstance(
        build_optimizer(config.replace(precision="float32"), 2),
        keras.optimizers.LossScaleOptimizer,
    )


@pytest.mark.parametrize(
    ("precision", "moves"), [("mixed_float16", True), ("float32", False)]
)
def test_loss_scaling_keeps_tiny_float16_gradients(precision, moves):
    """A gradient of 2.5e-8 is 0 in float16; scaled by 2**15 it survives."""
    config = TrainConfig(
        precision=precision,
        schedule="constant",
        learning_rate=1.0,
        weight_decay=0.0,
        momentum=0.0,
    )
    inputs = keras.Input((4,))
    x = keras.layers.Dense(1, kernel_initializer="zeros", dtype="mixed_float16")(inputs)
    model = keras.Model(inputs, keras.layers.Activation("linear", dtype="float32")(x))
    model.compile(
        optimizer=build_optimizer(config, 1),
        loss=lambda y, p: 1e-7 * keras.ops.mean(keras.ops.square(p - y)),
    )
    ones = np.ones((8, 4), "float32")
    model.fit(ones, np.ones((8, 1), "float32"), batch_size=8, verbose=0)
    kernel = model.get_weights()[0]
    if moves:
        np.testing.assert_allclose(kernel, 2e-7, rtol=1e-3)
    else:  # without loss scaling the float16 gradient underflows to zero
        np.testing.assert_array_equal(kernel, 0.0)

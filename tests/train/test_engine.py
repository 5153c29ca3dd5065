import csv
import json
import os
import signal
import warnings

import keras
import numpy as np
import pytest
from jax_env import FAST_XLA
from tiny import assert_same_weights
from train_helpers import KILL_OR_RESUME, resume_config, run_python, tiny_config

from keras_resnet.errors import RunDirectoryError, TrainingError, TrainingInterrupted
from keras_resnet.models import build_model
from keras_resnet.models.pretrained import write_pretrained
from keras_resnet.run_layout import HISTORY_KEYS
from keras_resnet.train import evaluate, train
from keras_resnet.train.optim import build_schedule

EPOCHS = 3  # train_helpers.RESUME_RUN's
# One-epoch paths (precision, XLA, recipe, determinism): two steps of 32
# images, 32 validation and 16 test images, one gradient record.
SMALL = dict(
    width_multiplier=0.125,
    max_train_examples=96,
    validation_split=1 / 3,
    max_test_examples=16,
    grad_norm_steps=[0],
)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """One uninterrupted tiny run that the other tests compare against."""
    return train(resume_config(tmp_path_factory.mktemp("runs") / "reference"))


def weights_of(run_dir):
    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    return model.get_weights()


def assert_same_run(run_dir, reference_dir):
    for a, b in zip(weights_of(run_dir), weights_of(reference_dir), strict=True):
        np.testing.assert_array_equal(a, b)
    history = json.loads((run_dir / "history.json").read_text())
    expected = json.loads((reference_dir / "history.json").read_text())
    history.pop("epoch_time"), expected.pop("epoch_time")
    assert history == expected
    norms = json.loads((run_dir / "gradient_norms.json").read_text())
    assert norms == json.loads((reference_dir / "gradient_norms.json").read_text())


def test_run_directory_holds_every_file(reference_run):
    names = {p.name for p in reference_run.run_dir.iterdir()}
    assert {
        "config.yaml",
        "dataset.json",
        "history.csv",
        "history.json",
        "gradient_norms.json",
        "metrics.json",
        "model.keras",
        "best.keras",
        "tensorboard",
    } <= names
    assert "backup" not in names  # removed once the run completed
    assert any((reference_run.run_dir / "tensorboard" / "gradients").iterdir())


def test_history_files_have_one_row_per_epoch(reference_run):
    history = json.loads((reference_run.run_dir / "history.json").read_text())
    assert list(history)[: len(HISTORY_KEYS)] == list(HISTORY_KEYS)
    assert {len(column) for column in history.values()} == {EPOCHS}
    assert history["epoch"] == [1, 2, 3]
    assert all(isinstance(v, float) for v in history["val_accuracy"])
    # The rate of each epoch's first step: the schedule at epoch * steps.
    config = resume_config(reference_run.run_dir)
    steps = json.loads((reference_run.run_dir / "dataset.json").read_text())
    steps = steps["train_size"] // config.batch_size
    schedule = build_schedule(config, steps)
    expected = [float(schedule(epoch * steps)) for epoch in range(EPOCHS)]
    assert history["learning_rate"] == pytest.approx(expected, rel=1e-6)
    assert history["learning_rate"][0] > 0.0
    with open(reference_run.run_dir / "history.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[1]["loss"]) == pytest.approx(history["loss"][1])
    assert reference_run.history == history


def test_gradient_norms_follow_the_schema(reference_run):
    saved = json.loads((reference_run.run_dir / "gradient_norms.json").read_text())
    assert saved["layers"][0] == "stem_conv" and saved["layers"][-1] == "fc"
    points = [(r["epoch"], r["step"]) for r in saved["records"]]
    assert points == [(0, 0), (0, 2), (1, 0), (2, 0), (3, 0)]
    for record in saved["records"]:
        assert list(record["norms"]) == saved["layers"]
        assert all(np.isfinite(v) and v > 0 for v in record["norms"].values())


def test_metrics_and_saved_classifier(reference_run):
    metrics = reference_run.metrics
    assert metrics == json.loads((reference_run.run_dir / "metrics.json").read_text())
    assert metrics["completed"] is True and metrics["epochs"] == EPOCHS
    assert len(metrics["per_class_accuracy"]) == 10
    assert metrics["best_epoch"] in (1, 2, 3)
    model = keras.saving.load_model(reference_run.run_dir / "model.keras")
    assert not any("crop" in layer.name for layer in model.layers)
    assert model.layers[1].name == "normalization"
    pixels = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype("float32")
    probabilities = keras.ops.convert_to_numpy(model(pixels))
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_evaluate_run_dir_and_keras_file_agree_with_metrics(reference_run):
    result = evaluate(reference_run.run_dir)
    assert result["accuracy"] == pytest.approx(reference_run.metrics["test_accuracy"])
    assert result["loss"] == pytest.approx(reference_run.metrics["test_loss"], rel=1e-5)
    confusion = np.array(result["confusion_matrix"])
    assert confusion.shape == (10, 10) and confusion.sum() == result["num_examples"]
    assert np.trace(confusion) / confusion.sum() == pytest.approx(result["accuracy"])
    on_validation = evaluate(reference_run.run_dir / "best.keras", split="validation")
    assert on_validation["num_examples"] == 32


def test_evaluate_needs_a_dataset_outside_a_run(tmp_path, reference_run):
    model = keras.saving.load_model(reference_run.run_dir / "model.keras")
    with pytest.raises(ValueError, match="Received: dataset=None"):
        evaluate(model)
    with pytest.raises(ValueError, match="Received: split='dev'"):
        evaluate(reference_run.run_dir, split="dev")


def test_completed_run_is_never_overwritten(reference_run):
    config = resume_config(reference_run.run_dir)
    before = (reference_run.run_dir / "metrics.json").read_text()
    with pytest.raises(RunDirectoryError, match="overwrite"):
        train(config)
    with pytest.raises(RunDirectoryError, match="completed"):
        train(config, resume=True)
    with pytest.raises(RunDirectoryError, match="epochs cannot change"):
        train(config.replace(epochs=EPOCHS + 1), resume=True)
    assert (reference_run.run_dir / "metrics.json").read_text() == before


class InterruptAt(keras.callbacks.Callback):
    """Send this process SIGINT during one batch, as Ctrl-C would."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.epoch = (epoch, batch), 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.slow
def test_ctrl_c_saves_and_resume_matches_an_uninterrupted_run(tmp_path, reference_run):
    config = resume_config(tmp_path / "run")
    # Python's own handler, or SIG_IGN in a process started in the background
    # by a shell (which ignores SIGINT there): train() puts back whichever.
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted, match="1 completed epoch") as caught:
        train(config, callbacks=[InterruptAt(1, 2)])
    # The library names its own argument; the command line adds its command.
    assert str(caught.value).endswith("continue with resume=True")
    assert "keras-resnet" not in str(caught.value)
    assert caught.value.run_dir == tmp_path / "run"
    assert caught.value.completed_epochs == 1
    state = json.loads((tmp_path / "run" / "backup" / "state.json").read_text())
    assert state["epoch"] == 1
    assert (tmp_path / "run" / "model.keras").is_file()
    assert signal.getsignal(signal.SIGINT) is before
    with pytest.raises(RunDirectoryError, match="unfinished"):
        train(config)
    train(config, resume=True)
    assert_same_run(tmp_path / "run", reference_run.run_dir)


@pytest.mark.slow
def test_sigkill_then_resume_ends_bit_identical(tmp_path, reference_run):
    run_dir = tmp_path / "killed"
    result = run_python(KILL_OR_RESUME, "kill", run_dir)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    state = json.loads((run_dir / "backup" / "state.json").read_text())
    assert state["epoch"] == 2 and not (run_dir / "metrics.json").exists()
    train(resume_config(run_dir), resume=True)
    assert_same_run(run_dir, reference_run.run_dir)


class PoisonWeights(keras.callbacks.Callback):
    """Make the stem kernel NaN before one batch of the second epoch."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == (1, 1):
            kernel = self.model.get_layer("mini_resnet").get_layer("stem_conv").kernel
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def test_nan_loss_stops_and_keeps_the_last_good_backup(tmp_path):
    config = tiny_config(tmp_path / "nan", epochs=2, **SMALL)
    with pytest.raises(TrainingError, match="NaN at epoch 2, batch 1") as error:
        train(config, callbacks=[PoisonWeights()])
    assert "last good backup (epoch 1)" in str(error.value)
    assert not list((tmp_path / "nan").rglob("*.tmp*"))
    assert not (tmp_path / "nan" / ".lock").exists()
    state = json.loads((tmp_path / "nan" / "backup" / "state.json").read_text())
    assert state["epoch"] == 1
    history = json.loads((tmp_path / "nan" / "history.json").read_text())
    assert history["epoch"] == [1] and np.isfinite(history["loss"][0])
    assert not (tmp_path / "nan" / "metrics.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("precision", "changes", "compute_dtype"),
    [
        ("mixed_float16", {"jit_compile": True, "deterministic": False}, "float16"),
        ("mixed_bfloat16", {"steps_per_execution": 2, "augment": "none"}, "bfloat16"),
    ],
)
def test_mixed_precision_and_xla_paths(
    tmp_path, monkeypatch, precision, changes, compute_dtype
):
    # TensorFlow's XLA reads XLA_FLAGS at its first compilation in this
    # process: with the tests' fast-compile flags the float16 step compiles
    # in a third less time (if an earlier test compiled first, the defaults
    # stay, which only costs time).
    monkeypatch.setenv("XLA_FLAGS", FAST_XLA)
    config = tiny_config(
        tmp_path / "mp", epochs=1, precision=precision, **SMALL, **changes
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. "XLA not supported"
        warnings.filterwarnings("ignore", message=".*shuffle=True.*")
        result = train(config)
    assert np.isfinite(result.history["loss"][0])
    model = keras.saving.load_model(result.run_dir / "model.keras")
    assert model.get_layer("stem_conv").compute_dtype == compute_dtype
    assert model.get_layer("stem_conv").kernel.dtype == "float32"
    assert model.output.dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # restored
    # Shipping the run's weights (write_pretrained, as for the reference
    # run's) gives a float32 model holding the run's float32 weights exactly.
    path = tmp_path / "shipped.weights.h5"
    fields = write_pretrained(result.run_dir, path)
    shipped = build_model(
        fields["model"],
        weights=str(path),
        num_classes=len(fields["class_names"]),
        **fields["arguments"],
    )
    assert shipped.get_layer("stem_conv").compute_dtype == "float32"
    assert_same_weights(model, shipped)


@pytest.mark.slow
def test_mixup_cutmix_label_smoothing_adamw_onecycle(tmp_path):
    config = tiny_config(
        tmp_path / "recipe",
        epochs=1,
        mixup_alpha=0.2,
        cutmix_alpha=1.0,
        label_smoothing=0.1,
        optimizer="adamw",
        learning_rate=3e-3,
        schedule="onecycle",
        cutout=8,
        **SMALL,
    )
    result = train(config)
    assert np.isfinite(result.history["loss"][0])
    assert result.metrics["completed"] is True
    # One-cycle starts at peak / 25 (the rate of the first step).
    assert result.history["learning_rate"][0] == pytest.approx(3e-3 / 25, rel=1e-5)


@pytest.mark.parametrize(("before", "deterministic"), [(False, None), (True, False)])
def test_op_determinism_is_left_as_the_caller_had_it(tmp_path, before, deterministic):
    from tensorflow.python.framework import config as tf_config

    (tf_config.enable_op_determinism if before else tf_config.disable_op_determinism)()
    try:
        seen = []

        class Probe(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                seen.append(tf_config.is_op_determinism_enabled())

        config = tiny_config(
            tmp_path / "run", epochs=1, deterministic=deterministic, **SMALL
        )
        train(config, callbacks=[Probe()])
        assert seen == [deterministic is None]  # on a CPU, None means on
        assert tf_config.is_op_determinism_enabled() is before
    finally:
        tf_config.disable_op_determinism()


@pytest.mark.parametrize(("jit_compile", "expected"), [(None, False), (True, True)])
def test_xla_by_default_only_where_keras_auto_turns_it_on(jit_compile, expected):
    # Op determinism off, so only jit_compile decides: None is Keras' "auto",
    # which leaves XLA off on a CPU-only TensorFlow (it is slower there).
    from keras_resnet.train.config import load_splits
    from keras_resnet.train.engine import build_models

    config = tiny_config(None, jit_compile=jit_compile, deterministic=False, **SMALL)
    _, model = build_models(config, load_splits(config), steps_per_epoch=2)
    assert keras.backend.backend() == "tensorflow"
    assert model.jit_compile is expected


def test_the_train_step_is_traced_once(tmp_path, monkeypatch):
    # Keras on TensorFlow builds a strategy-less model's optimizer inside the
    # first traced step; TensorFlow then traces the step again (seconds per
    # run). The engine builds it first, so each fit traces it once.
    from keras.src.backend.tensorflow import trainer

    traces = []
    step = trainer.TensorFlowTrainer.train_step
    monkeypatch.setattr(
        trainer.TensorFlowTrainer,
        "train_step",
        lambda self, data: traces.append(1) or step(self, data),
    )
    train(tiny_config(tmp_path / "once", epochs=1, **SMALL))
    assert len(traces) == 1

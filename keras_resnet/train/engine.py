"""The training engine: ``train(config)`` builds data, model and optimizer,
calls ``model.fit`` and fills the run directory.

The classifier is ``raw pixels -> Normalization(mean, std) -> backbone ->
float32 softmax``; training wraps it as ``raw pixels -> augmentation ->
classifier``. Resuming restores the training model's weights (augmentation
counters included), the optimizer and the records of the last completed
epoch, and rebuilds the data stream from that epoch, so a resumed CPU run
ends bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import pathlib
import time
from typing import Any

import keras
import numpy as np

from keras_resnet import run_layout
from keras_resnet.callbacks import (
    GradientNormRecorder,
    kernel_layers,
    tensorboard_available,
)
from keras_resnet.data.splits import balanced_indices
from keras_resnet.errors import TrainingError, TrainingInterrupted
from keras_resnet.models import build_model, count_flops, count_trainable_params
from keras_resnet.models.layers import avoid_strided_1x1_bug
from keras_resnet.train import distribute, onednn, rundir
from keras_resnet.train.config import TrainConfig, load_splits
from keras_resnet.train.evaluate import summarize
from keras_resnet.train.losses import CrossEntropy
from keras_resnet.train.monitor import RunMonitor
from keras_resnet.train.optim import build_optimizer

__all__ = ["CrossEntropy", "RunResult", "build_classifier", "build_models", "train"]


@dataclasses.dataclass
class RunResult:
    """What ``train`` returns.

    Attributes:
        run_dir: The run directory.
        history: Per-epoch lists, as in ``history.json``.
        metrics: The contents of ``metrics.json``.
        model: The trained classifier.
    """

    run_dir: pathlib.Path
    history: dict[str, list[Any]]
    metrics: dict[str, Any]
    model: keras.Model | None = None


@distribute.process_failures()
def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> RunResult:
    """Train ``config.model`` on ``config.dataset`` and fill the run directory.

    The run directory is locked (``.lock``) while this runs. Nothing in it
    is written, and with ``overwrite`` the old run is not deleted, until the
    data is loaded and the model is built; a failed call removes a directory
    it created (unless an epoch was backed up) and its temporary files.

    Args:
        config: Every hyper-parameter of the run.
        resume: Continue the run in ``config.output_dir`` from its last
            completed epoch (from the start when no epoch completed). The
            directory must hold a run, and ``config`` must equal its
            ``config.yaml`` (``verbose`` and ``output_dir`` aside).
        overwrite: Replace a completed or unfinished run in the output
            directory.
        callbacks: Extra Keras callbacks for ``model.fit``.

    Returns:
        A ``RunResult`` (run directory, history, metrics, classifier).

    Raises:
        ValueError: For an invalid configuration.
        keras_resnet.errors.RunNotFoundError: ``resume`` and the output
            directory holds no run.
        keras_resnet.errors.RunLockedError: Another process is writing the
            output directory.
        keras_resnet.errors.RunDirectoryError: When a run would be
            overwritten, or a run to resume is completed or different
            (``epochs`` included).
        keras_resnet.errors.TrainingError: When the loss becomes NaN (the
            last good backup, if an epoch completed, is kept).
        keras_resnet.errors.TrainingInterrupted: After a first Ctrl-C
            (completed epochs are saved; resume continues from there).
    """
    config.validate()
    distribute.setup(config.strategy, config.batch_size)
    started = time.perf_counter()
    previous_determinism = _op_determinism()
    try:
        if not distribute.is_chief():
            # Other processes compute the same steps (the collectives need
            # them) but write to scratch space; on resume they restore the
            # chief's backup.
            with distribute.scratch_dir() as run_dir:
                state = distribute.shared_backup(config.output_dir, resume)
                result = _run(config, run_dir, state, started, callbacks, clear=False)
            # Process 0 writes the run directory.
            return dataclasses.replace(
                result, run_dir=pathlib.Path(config.output_dir or run_dir)
            )
        run_dir = pathlib.Path(
            config.output_dir or rundir.default_run_dir(config.model)
        )
        config = config.replace(output_dir=str(run_dir))
        # Checked before anything is created, and again under the lock.
        rundir.check_run_dir(run_dir, config, resume=resume, overwrite=overwrite)
        with rundir.locked_run_dir(run_dir):
            rundir.check_run_dir(run_dir, config, resume=resume, overwrite=overwrite)
            state = rundir.load_backup(run_dir) if resume else None
            clear = overwrite and state is None
            return _run(config, run_dir, state, started, callbacks, clear=clear)
    finally:
        # The switch is process-wide: leave it as the caller had it.
        _set_op_determinism(previous_determinism)
        distribute.reset_distribution()


def _run(config, run_dir, state, started, callbacks, *, clear) -> RunResult:
    """The body of ``train`` once the run directory is checked and locked.

    Nothing is written to ``run_dir`` (and, with ``clear``, the old run in
    it is not deleted) until the data is loaded and the model is built.
    """
    deterministic = _seed_everything(config)
    splits = load_splits(config)
    config = config.replace(output_dir=str(run_dir))
    steps = splits.train_size // config.batch_size
    if steps < 1:
        raise ValueError(
            f"batch_size is larger than the {splits.train_size} training examples. "
            f"Received: batch_size={config.batch_size}"
        )
    strategy = distribute.resolve_strategy(config.strategy)
    with distribute.strategy_scope(strategy):
        classifier, model = build_models(
            # Keras turns XLA off under op determinism whatever is asked.
            config.replace(jit_compile=False if deterministic else config.jit_compile),
            splits,
            steps,
        )
    # The builders route their models around a oneDNN kernel bug; a model
    # registered by the user, or layers added here, may not be.
    avoid_strided_1x1_bug(classifier)
    onednn.warn_if_off()
    initial_epoch = _restore(model, state)
    if clear:
        rundir.clear_run(run_dir)
    rundir.write_config(run_dir, config)
    run_layout.write_json(
        run_dir / run_layout.DATASET_FILE, rundir.dataset_record(splits)
    )
    recorder, monitor = _engine_callbacks(config, run_dir, classifier, splits, state)
    if initial_epoch < config.epochs:
        _fit(
            config,
            model,
            splits,
            steps,
            initial_epoch,
            [*_tensorboard(run_dir), recorder, monitor, *(callbacks or [])],
            strategy,
        )
    _check_stopped(monitor, run_dir, classifier)
    metrics = _finish(config, run_dir, classifier, splits, monitor, started)
    metrics["replicas"] = distribute.num_replicas(strategy)
    run_layout.write_json(run_dir / run_layout.METRICS_FILE, metrics)
    return RunResult(
        run_dir,
        run_layout.read_json(run_dir / run_layout.HISTORY_JSON_FILE),
        metrics,
        classifier,
    )


def build_models(config: TrainConfig, splits, steps_per_epoch: int):
    """The classifier and the compiled training model of ``config``.

    Args:
        config: The run's configuration.
        splits: The ``DatasetSplits`` (mean, std, image shape, classes).
        steps_per_epoch: Optimizer updates per epoch (for the schedule).

    Returns:
        ``(classifier, training_model)``.
    """
    from keras_resnet.augment import build_augmentation

    classifier = build_classifier(config, splits)
    augmentation = build_augmentation(
        augment=config.augment, cutout=config.cutout, seed=config.seed
    )
    inputs = keras.Input(shape=tuple(splits.image_shape), name="images")
    x = augmentation(inputs) if augmentation is not None else inputs
    model = keras.Model(inputs, classifier(x), name=f"{config.model}_training")
    mixing = config.mixup_alpha > 0 or config.cutmix_alpha > 0
    accuracy = (
        keras.metrics.CategoricalAccuracy
        if mixing
        else keras.metrics.SparseCategoricalAccuracy
    )
    model.compile(
        optimizer=build_optimizer(
            config,
            steps_per_epoch,
            # The recorder's training norms: the gradients each step applies.
            tracked_kernels=[layer.kernel.path for layer in kernel_layers(classifier)]
            if config.grad_norm_every > 0
            else None,
        ),
        loss=CrossEntropy(splits.num_classes, config.label_smoothing),
        metrics=[accuracy(name="accuracy")],
        jit_compile="auto" if config.jit_compile is None else config.jit_compile,
        steps_per_execution=config.steps_per_execution,
    )
    # Built here, not by the first step: Keras on TensorFlow (without a
    # strategy) would create the optimizer's variables inside the traced
    # train step, and TensorFlow then traces the whole step a second time.
    model.optimizer.build(model.trainable_variables)
    return classifier, model


def build_classifier(config: TrainConfig, splits) -> keras.Model:
    """``raw pixels -> Normalization -> backbone -> float32 softmax``, with the
    backbone's layers computing in ``config.precision``."""
    from keras_resnet.augment import build_normalization

    with _dtype_policy(config.precision):
        inputs = keras.Input(shape=tuple(splits.image_shape), name="images")
        x = build_normalization(splits.mean, splits.std)(inputs)
        try:
            backbone = build_model(
                config.model,
                input_tensor=x,
                width_multiplier=config.width_multiplier,
                num_classes=splits.num_classes,
                classifier_activation="linear",
                **config.model_options,
            )
        except TypeError as error:  # an argument the builder does not take
            raise ValueError(
                f"model {config.model!r} does not accept the model options "
                f"given ({error}). Received: model_options={config.model_options!r}"
            ) from None
        # Softmax (and so the loss) in float32 whatever the compute dtype.
        probabilities = keras.layers.Activation(
            "softmax", dtype="float32", name="probabilities"
        )(backbone.output)
        return keras.Model(inputs, probabilities, name=config.model)


@contextlib.contextmanager
def _dtype_policy(name: str):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _seed_everything(config: TrainConfig) -> bool:
    """Seed every generator; returns whether TF op determinism is on."""
    keras.utils.set_random_seed(config.seed)
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    deterministic = config.deterministic
    if deterministic is None:
        # Bit-exact resume on CPU; GPU kernels keep their faster default.
        deterministic = not tf.config.list_physical_devices("GPU")
    _set_op_determinism(deterministic)
    return deterministic


def _op_determinism() -> bool | None:
    """Whether TensorFlow op determinism is on (None on other backends)."""
    if keras.backend.backend() != "tensorflow":
        return None
    # Keras reads the switch from this same module.
    from tensorflow.python.framework import config as tf_config

    return tf_config.is_op_determinism_enabled()


def _set_op_determinism(enabled: bool | None) -> None:
    if enabled is None or enabled == _op_determinism():
        return
    from tensorflow.python.framework import config as tf_config

    if enabled:
        tf_config.enable_op_determinism()
    else:
        tf_config.disable_op_determinism()


def _restore(model: keras.Model, state: dict[str, Any] | None) -> int:
    if state is None:
        return 0
    model.load_weights(state["weights_path"])
    return int(state["epoch"])


def _engine_callbacks(config, run_dir, classifier, splits, state):
    recorder = None
    if config.grad_norm_every > 0:
        images, labels = splits.arrays["train"]
        # Source order is often class order: never the first N images.
        probe = balanced_indices(labels, config.grad_probe_size, config.seed)
        counts = np.bincount(labels[probe], minlength=splits.num_classes)
        recorder = GradientNormRecorder(
            (images[probe], labels[probe]),
            loss=CrossEntropy(splits.num_classes, config.label_smoothing),
            model=classifier,
            every_epochs=config.grad_norm_every,
            steps=config.grad_norm_steps,
            path=run_dir / run_layout.GRADIENTS_FILE,
            log_dir=run_dir / run_layout.TENSORBOARD_DIR / "gradients",
            batch_size=config.batch_size,
            probe_info={
                "size": len(probe),
                "seed": config.seed,
                "class_counts": counts.tolist(),
            },
        )
        if state:
            recorder.restore(
                state.get("gradient_records", []), state.get("gradient_train", [])
            )
    monitor = RunMonitor(run_dir, classifier, recorder=recorder, state=state)
    return recorder, monitor


def _tensorboard(run_dir: pathlib.Path) -> list[keras.callbacks.Callback]:
    if not tensorboard_available():
        return []
    log_dir = run_dir / run_layout.TENSORBOARD_DIR
    return [keras.callbacks.TensorBoard(log_dir=str(log_dir))]


def _fit(config, model, splits, steps, initial_epoch, callbacks, strategy) -> None:
    train_data, validation_data = (
        distribute.shard_inputs(data, strategy)
        for data in _pipelines(config, splits, initial_epoch, strategy)
    )
    if hasattr(train_data, "epoch_callback"):  # the NumPy ArrayLoader
        callbacks = [train_data.epoch_callback(), *callbacks]
    model.fit(
        train_data,
        epochs=config.epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=steps,
        validation_data=validation_data,
        # The pipelines order each epoch from (seed, epoch); Keras must not
        # reshuffle (it would reorder a PyDataset's batches).
        shuffle=False,
        callbacks=[c for c in callbacks if c is not None],
        verbose=config.verbose,
    )


def _pipelines(config, splits, initial_epoch, strategy):
    """Training and validation data: tf.data with TensorFlow, else NumPy."""
    mixing = {
        "num_classes": splits.num_classes,
        "mixup_alpha": config.mixup_alpha,
        "cutmix_alpha": config.cutmix_alpha,
    }
    validation = splits.arrays.get("validation")
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return _array_loaders(config, splits, initial_epoch, mixing, validation)
    from keras_resnet.data import make_pipeline

    train_data = make_pipeline(
        splits.arrays["train"],
        batch_size=config.batch_size,
        training=True,
        seed=config.seed,
        initial_epoch=initial_epoch,
        epochs=config.epochs,
        **mixing,
    )
    train_data = distribute.shard_by_data(train_data, strategy)
    if validation is None:
        return train_data, None
    validation_data = make_pipeline(
        validation, batch_size=config.batch_size, training=False
    )
    return train_data, distribute.shard_by_data(validation_data, strategy)


def _array_loaders(config, splits, initial_epoch, mixing, validation):
    from keras_resnet.data.loader import ArrayLoader

    images, labels = splits.arrays["train"]
    train_data = ArrayLoader(
        images,
        labels,
        batch_size=config.batch_size,
        training=True,
        seed=config.seed,
        initial_epoch=initial_epoch,
        **mixing,
    )
    if validation is None:
        return train_data, None
    return train_data, ArrayLoader(
        *validation, batch_size=config.batch_size, training=False
    )


def _check_stopped(monitor: RunMonitor, run_dir: pathlib.Path, classifier) -> None:
    done = monitor.completed_epochs
    if monitor.nan_at is not None:
        epoch, batch = monitor.nan_at
        if done:
            kept = (
                f"the last good backup (epoch {done}) is in "
                f"{run_dir / run_layout.BACKUP_DIR}"
            )
        else:
            kept = "no epoch completed, so there is no backup"
        raise TrainingError(
            f"loss became NaN at epoch {epoch + 1}, batch {batch}; training "
            f"stopped and {kept}; lower the learning rate or use precision float32"
        )
    if monitor.interrupted:
        rundir.save_model_atomically(classifier, run_dir / run_layout.MODEL_FILE)
        raise TrainingInterrupted(
            f"training interrupted after {done} completed epoch(s), saved in "
            f"{run_dir}; continue with resume=True",
            run_dir=run_dir,
            completed_epochs=done,
        )


def _finish(config, run_dir, classifier, splits, monitor, started):
    rundir.save_model_atomically(classifier, run_dir / run_layout.MODEL_FILE)
    if monitor.recorder is not None:
        run_layout.write_json(
            run_dir / run_layout.GRADIENTS_FILE, monitor.recorder.to_json()
        )
    rundir.write_history(run_dir, monitor.rows)
    images, labels = splits.arrays["test"]
    probabilities = distribute.predict(classifier, images, batch_size=256)
    test = summarize(np.asarray(probabilities), labels, splits.class_names)
    seconds = [row["epoch_time"] for row in monitor.rows]
    final_loss = monitor.rows[-1]["loss"] if monitor.rows else None
    metrics = {
        "model": config.model,
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "per_class_accuracy": test["per_class_accuracy"],
        "confusion_matrix": test["confusion_matrix"],
        "trainable_params": count_trainable_params(classifier),
        "flops": count_flops(classifier),
        "epochs": len(monitor.rows),
        "total_seconds": float(sum(seconds)),
        "wall_seconds": time.perf_counter() - started,
        "seconds_per_epoch": float(np.mean(seconds)) if seconds else math.nan,
        "best_epoch": monitor.best_epoch,
        "best_val_accuracy": monitor.best_value if monitor.best_epoch else None,
        "final_train_loss": final_loss,
        "completed": True,
    }
    rundir.remove_backup(run_dir)
    return metrics

"""``keras-resnet fit``: train one model and write a run directory."""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
from typing import Any

import click

from keras_resnet.cli.options import (
    ConfigFile,
    TrainingOptions,
    resolve_config,
    training_options,
)
from keras_resnet.cli.output import (
    format_count,
    format_duration,
    model_choice,
    plural,
    without_received,
)
from keras_resnet.cli.progress import epoch_progress, library_progress
from keras_resnet.errors import (
    RunDirectoryError,
    RunNotFoundError,
    TrainingInterrupted,
)
from keras_resnet.run_layout import (
    CONFIG_FILE,
    DATASET_FILE,
    RUN_FILES,
    TENSORBOARD_DIR,
    read_optional_json,
)
from keras_resnet.train.config import TrainConfig
from keras_resnet.train.rundir import default_run_dir, require_run

EPILOG = """\b
Examples:
  keras-resnet fit resnet18 --epochs 100
  keras-resnet fit resnet18 --config configs/resnet18_best.yaml
  keras-resnet fit mini_resnet --model-option blocks_per_stage=9 --lr 0.05
  keras-resnet fit resnet18 --no-skip --epochs 30 --output-dir runs/noskip
  keras-resnet fit resnet18 --dataset synthetic --epochs 1 \\
      --width-multiplier 0.125 --max-train-examples 512
  keras-resnet fit --resume --output-dir runs/long

\b
Precedence: TrainConfig defaults < --config FILE < options given here.
The resolved config is written to <output-dir>/config.yaml. With --resume
the run's own config.yaml comes first (MODEL may be left out); options given
must match it.
"""


HELP = f"""Train MODEL (or the config file's model) and save a run directory.

MODEL is a name listed by `keras-resnet models`.

The run directory holds {", ".join(RUN_FILES)} and {TENSORBOARD_DIR}/. Ctrl-C
stops after the current batch and saves a backup (exit 130); continue with
--resume. A second fit on a run directory in use fails at once, naming the
pid that holds it.
"""


@click.command(epilog=EPILOG, help=HELP)
@click.argument("model", required=False, type=model_choice(), metavar="[MODEL]")
@training_options
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run in --output-dir from its backup, with its config.yaml.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace the run in --output-dir (once the new data and model load).",
)
@click.option(
    "--quiet", "-q", is_flag=True, help="No progress bar or start line; summary only."
)
def fit(
    model: str | None,
    training: TrainingOptions,
    resume: bool,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Train MODEL (or the config file's model) and save a run directory."""
    if resume:
        training = _with_saved_config(training, model)
    if model is None and "model" not in _file_values(training):
        raise click.UsageError("Missing argument 'MODEL' (or a --config with 'model').")
    config = resolve_config(training, model=model)
    config = config.replace(
        # Chosen here, so the start line can name it and read its dataset file.
        output_dir=config.output_dir or str(default_run_dir(config.model)),
        verbose=0 if quiet else config.verbose,
    )
    from keras_resnet.train import train

    callbacks = []
    if not quiet:
        config, callbacks = epoch_progress(
            config, verbose_given=_verbose_given(training)
        )
        callbacks = [start_line_callback(config), *callbacks]
    with contextlib.nullcontext() if quiet else library_progress():
        try:
            result = train(
                config, resume=resume, overwrite=overwrite, callbacks=callbacks
            )
        except TrainingInterrupted as error:
            if error.run_dir is None:
                raise
            # The library says resume=True; a CLI user needs the command.
            raise TrainingInterrupted(
                f"training interrupted after {error.completed_epochs} completed "
                f"epoch(s), saved in {error.run_dir}; continue with: "
                f"keras-resnet fit --resume --output-dir {error.run_dir}",
                run_dir=error.run_dir,
                completed_epochs=error.completed_epochs,
            ) from None
    click.echo(summary(config, result))


def _file_values(training: TrainingOptions) -> dict[str, Any]:
    return training.config_file.values if training.config_file else {}


def _verbose_given(training: TrainingOptions) -> bool:
    return "verbose" in training.fields or "verbose" in _file_values(training)


def _with_saved_config(training: TrainingOptions, model: str | None) -> TrainingOptions:
    """``training`` with the run's own ``config.yaml`` under ``--config``.

    Precedence: the saved config < --config FILE < options given here; the
    engine then refuses any value that differs from the saved one.
    """
    output_dir = training.fields.get("output_dir")
    if output_dir is None:
        raise click.UsageError("--resume needs --output-dir (the run to continue).")
    saved_path = pathlib.Path(output_dir) / CONFIG_FILE
    if not saved_path.is_file():
        if model is None and "model" not in _file_values(training):
            # Nothing says what to train: the run is the only source.
            try:
                require_run(output_dir)
            except RunNotFoundError as error:
                # The CLI names the option, not the Python argument.
                raise RunNotFoundError(without_received(error)) from None
        return training  # the engine reports the missing run
    from keras_resnet.train.config import read_yaml

    values = read_yaml(saved_path)
    # Where this run writes and how chatty it is are not part of the recipe.
    values.pop("output_dir", None)
    values.pop("verbose", None)
    values.update(_file_values(training))
    path = str(saved_path)
    if training.config_file is not None:
        path = f"{saved_path} and {training.config_file.path}"
    return dataclasses.replace(training, config_file=ConfigFile(path, values))


def list_devices() -> list[str]:
    """Accelerators the current Keras backend sees, else ``["cpu"]``."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        devices = tf.config.list_logical_devices()
        names = [d.name for d in devices if d.device_type in ("GPU", "TPU")]
    elif backend == "jax":
        import jax

        names = [str(d) for d in jax.devices() if d.platform != "cpu"]
    else:
        names = []
    return names or ["cpu"]


def start_line(config: TrainConfig, params: int, dataset: dict | None) -> str:
    """The one line printed when training starts."""
    import keras

    sizes = "sizes unknown"
    if dataset:
        sizes = ", ".join(
            f"{dataset[key]:,} {key.removesuffix('_size')}"
            for key in ("train_size", "validation_size", "test_size")
            if dataset.get(key)
        )
    return (
        f"Training {config.model} ({format_count(params)} parameters) on "
        f"{config.dataset} ({sizes}) | {plural(config.epochs, 'epoch')}, batch "
        f"{config.batch_size} | {', '.join(list_devices())} | "
        f"{config.precision} | backend {keras.backend.backend()} | "
        f"-> {config.output_dir}"
    )


def start_line_callback(config: TrainConfig):
    """A Keras callback that prints ``start_line`` when ``fit`` begins."""
    import keras

    from keras_resnet.models import count_trainable_params

    class StartLine(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            params = count_trainable_params(self.model)
            click.echo(start_line(config, params, read_dataset_json(config)))

    return StartLine()


def read_dataset_json(config: TrainConfig) -> dict | None:
    """The run's ``dataset.json``, if the engine has written it yet."""
    try:
        return read_optional_json(pathlib.Path(config.output_dir or "") / DATASET_FILE)
    except RunDirectoryError:
        return None


def summary(config: TrainConfig, result) -> str:
    """The end-of-training summary: accuracies, time and output location."""
    metrics = result.metrics
    # Without a validation split the column holds None for every epoch.
    val_accuracy = [
        value
        for value in (result.history or {}).get("val_accuracy") or []
        if value is not None
    ]
    lines = [f"Finished {config.model} in {format_duration(metrics['total_seconds'])}"]
    if val_accuracy:
        lines.append(
            f"  validation accuracy: best {metrics['best_val_accuracy']:.4f} "
            f"(epoch {metrics['best_epoch']}), final {val_accuracy[-1]:.4f}"
        )
    else:
        lines.append("  validation accuracy: none (--validation-split 0)")
    lines.append(
        f"  test accuracy: {metrics['test_accuracy']:.4f} "
        f"(loss {metrics['test_loss']:.4f})"
    )
    lines.append(f"  outputs: {result.run_dir}")
    return "\n".join(lines)

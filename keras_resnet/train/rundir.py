"""The run directory: its layout, and reading and writing its files.

Every file is written atomically (a temporary file renamed over the target),
so a run killed at any moment leaves either the old or the new version. See
the run-directory table in docs/architecture.md.
"""

from __future__ import annotations

import csv
import datetime
import json
import os
import pathlib
import shutil
from typing import Any

from keras_resnet.errors import RunDirectoryError
from keras_resnet.train.config import TrainConfig

CONFIG = "config.yaml"
DATASET = "dataset.json"
HISTORY_CSV = "history.csv"
HISTORY_JSON = "history.json"
GRADIENTS = "gradient_norms.json"
METRICS = "metrics.json"
MODEL = "model.keras"
BEST = "best.keras"
TENSORBOARD = "tensorboard"
BACKUP = "backup"
BACKUP_STATE = "state.json"
HISTORY_KEYS = (
    "epoch",
    "loss",
    "accuracy",
    "val_loss",
    "val_accuracy",
    "learning_rate",
    "epoch_time",
)


def default_run_dir(model: str) -> pathlib.Path:
    """``runs/<model>-<YYYYmmdd-HHMMSS>`` under the current directory."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return pathlib.Path("runs") / f"{model}-{stamp}"


def prepare_run_dir(
    config: TrainConfig, *, resume: bool, overwrite: bool
) -> pathlib.Path:
    """Create (or reopen, for ``resume``) the run directory of ``config``.

    Args:
        config: The run's configuration (``output_dir``, default
            ``runs/<model>-<timestamp>``).
        resume: Continue the run found there from its last backup.
        overwrite: Allow replacing a completed run.

    Returns:
        The run directory.

    Raises:
        RunDirectoryError: When a completed run would be overwritten, or a
            run to resume has a different configuration.
    """
    path = pathlib.Path(config.output_dir or default_run_dir(config.model))
    if resume and _has_backup(path):
        _check_same_config(path, config)
        return path
    if is_completed(path) and not overwrite:
        raise RunDirectoryError(
            f"{path} holds a completed run; pass overwrite=True (--overwrite) "
            "to replace it or choose another output directory"
        )
    if not resume and _has_backup(path) and not overwrite:
        raise RunDirectoryError(
            f"{path} holds an unfinished run; pass resume=True (--resume) to "
            "continue it or overwrite=True (--overwrite) to start over"
        )
    if overwrite:
        _clear(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_completed(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a run whose ``metrics.json`` says completed."""
    try:
        return bool(read_json(pathlib.Path(path) / METRICS).get("completed"))
    except (OSError, ValueError):
        return False


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Write ``value`` as indented JSON, atomically."""
    _atomic_write(path, json.dumps(value, indent=2, allow_nan=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file.

    Raises:
        RunDirectoryError: If the file is not valid JSON.
    """
    text = pathlib.Path(path).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except ValueError:
        raise RunDirectoryError(f"{os.fspath(path)} is not valid JSON") from None


def write_history(run_dir: pathlib.Path, rows: list[dict[str, Any]]) -> None:
    """Write ``history.json`` (a dict of equal-length lists) and ``history.csv``."""
    keys = list(HISTORY_KEYS) + sorted(
        {key for row in rows for key in row} - set(HISTORY_KEYS)
    )
    columns = {key: [row.get(key) for row in rows] for key in keys}
    write_json(run_dir / HISTORY_JSON, columns)
    tmp = run_dir / (HISTORY_CSV + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, run_dir / HISTORY_CSV)


def write_config(run_dir: pathlib.Path, config: TrainConfig) -> None:
    """Write the resolved configuration to ``config.yaml``."""
    tmp = run_dir / (CONFIG + ".tmp")
    config.to_yaml(tmp)
    os.replace(tmp, run_dir / CONFIG)


def read_config(run_dir: str | os.PathLike) -> TrainConfig:
    """The ``TrainConfig`` saved in a run directory.

    Raises:
        RunDirectoryError: If ``config.yaml`` is missing.
    """
    path = pathlib.Path(run_dir) / CONFIG
    if not path.is_file():
        raise RunDirectoryError(f"{path} not found: not a run directory")
    return TrainConfig.from_yaml(path)


def dataset_record(splits) -> dict[str, Any]:
    """The ``dataset.json`` content for a ``DatasetSplits``."""
    return {
        "name": splits.name,
        "class_names": list(splits.class_names),
        "image_shape": list(splits.image_shape),
        "num_classes": splits.num_classes,
        "train_size": splits.train_size,
        "validation_size": splits.validation_size,
        "test_size": splits.test_size,
        "mean": [float(m) for m in splits.mean],
        "std": [float(s) for s in splits.std],
    }


# -- backups ---------------------------------------------------------------


def save_backup(run_dir: pathlib.Path, model, state: dict[str, Any]) -> None:
    """Save the training model (weights, optimizer, augmentation counters)
    and ``state`` after an epoch, replacing the previous backup atomically.

    The weights go to a new file named after the epoch; ``state.json``, which
    names it, is renamed into place last, so a kill at any moment leaves a
    complete older or newer backup.
    """
    folder = run_dir / BACKUP
    folder.mkdir(exist_ok=True)
    name = f"epoch{state['epoch']:05d}.weights.h5"
    tmp = folder / f"{name}.tmp.weights.h5"
    model.save_weights(tmp)
    os.replace(tmp, folder / name)
    write_json(folder / BACKUP_STATE, {**state, "weights": name})
    for old in folder.glob("epoch*.weights.h5"):
        if old.name != name:
            old.unlink()


def load_backup(run_dir: pathlib.Path) -> dict[str, Any] | None:
    """The state of the last backup (with ``weights_path``), or None."""
    path = run_dir / BACKUP / BACKUP_STATE
    if not path.is_file():
        return None
    state = read_json(path)
    state["weights_path"] = os.fspath(run_dir / BACKUP / state["weights"])
    return state


def _has_backup(path: pathlib.Path) -> bool:
    return (path / BACKUP / BACKUP_STATE).is_file()


def _check_same_config(path: pathlib.Path, config: TrainConfig) -> None:
    saved = read_config(path).to_dict()
    ignored = {"verbose", "output_dir", "epochs"}
    changed = sorted(
        key
        for key, value in config.to_dict().items()
        if key not in ignored and saved.get(key) != value
    )
    if changed:
        raise RunDirectoryError(
            f"cannot resume {path}: the configuration differs in "
            f"{', '.join(changed)}; use the command that started the run"
        )


def _clear(path: pathlib.Path) -> None:
    if not path.is_dir():
        return
    known = {CONFIG, DATASET, HISTORY_CSV, HISTORY_JSON, GRADIENTS, METRICS}
    known |= {MODEL, BEST}
    for name in known:
        (path / name).unlink(missing_ok=True)
    for folder in (path / BACKUP, path / TENSORBOARD):
        _remove_tree(folder)


def _remove_tree(folder: pathlib.Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def _atomic_write(path: str | os.PathLike, text: str) -> None:
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def remove_backup(run_dir: pathlib.Path) -> None:
    """Delete the backup of a completed run (weights and optimizer state)."""
    _remove_tree(run_dir / BACKUP)

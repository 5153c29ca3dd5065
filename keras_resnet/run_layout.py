"""The run directory's layout: its file names, completion, and reading it.

The one owner of what a run directory holds (the table in
``docs/architecture.md``). Training writes it (``keras_resnet.train.rundir``:
atomic writes, the lock, backups), the study, inference and the command line
read it, and all of them take the names from here. Keras-free, so code
that only reads a run (or checks that one completed) need not import Keras.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import yaml

from keras_resnet.errors import RunDirectoryError

CONFIG_FILE = "config.yaml"
DATASET_FILE = "dataset.json"
HISTORY_CSV_FILE = "history.csv"
HISTORY_JSON_FILE = "history.json"
GRADIENTS_FILE = "gradient_norms.json"
METRICS_FILE = "metrics.json"
MODEL_FILE = "model.keras"
BEST_MODEL_FILE = "best.keras"
TENSORBOARD_DIR = "tensorboard"
BACKUP_DIR = "backup"
BACKUP_STATE_FILE = "state.json"
LOCK_FILE = ".lock"

# The files a run writes directly in its folder (folders aside).
RUN_FILES = (
    CONFIG_FILE,
    DATASET_FILE,
    HISTORY_CSV_FILE,
    HISTORY_JSON_FILE,
    GRADIENTS_FILE,
    METRICS_FILE,
    MODEL_FILE,
    BEST_MODEL_FILE,
)
# The first columns of history.csv / keys of history.json, in this order;
# gradient-norm columns follow, sorted.
HISTORY_KEYS = (
    "epoch",
    "loss",
    "accuracy",
    "val_loss",
    "val_accuracy",
    "learning_rate",
    "epoch_time",
)


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file of a run.

    Raises:
        RunDirectoryError: If the file cannot be read or is not valid JSON
            (the message names the file).
    """
    try:
        text = pathlib.Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RunDirectoryError(f"Cannot read {os.fspath(path)}: {error}") from None
    try:
        return json.loads(text)
    except ValueError:
        raise RunDirectoryError(f"{os.fspath(path)} is not valid JSON") from None


def read_optional_json(path: str | os.PathLike) -> Any:
    """``read_json(path)``, or None when the file does not exist."""
    return read_json(path) if pathlib.Path(path).is_file() else None


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Write ``value`` as indented JSON, atomically.

    The text goes to ``<name>.tmp`` first and is renamed over ``path``, so a
    process killed at any moment leaves the old or the new file.
    """
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, allow_nan=True) + "\n", "utf-8")
    os.replace(tmp, path)


def read_config_values(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``config.yaml`` of a run as a plain mapping (empty when absent).

    ``keras_resnet.train.rundir.read_config`` turns it into a validated
    ``TrainConfig``; readers that only show a run use the mapping.

    Raises:
        RunDirectoryError: If the file cannot be read or parsed.
    """
    path = pathlib.Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        with open(path, encoding="utf-8") as stream:
            values = yaml.safe_load(stream)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise RunDirectoryError(f"Cannot read {path}: {error}") from None
    return values if isinstance(values, dict) else {}


def read_metrics(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``metrics.json`` of a run (empty while it trains).

    Raises:
        RunDirectoryError: If the file exists but cannot be read or parsed.
    """
    metrics = read_optional_json(pathlib.Path(run_dir) / METRICS_FILE)
    return metrics if isinstance(metrics, dict) else {}


def has_history(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a run with at least one epoch (``history.json``)."""
    return (pathlib.Path(path) / HISTORY_JSON_FILE).is_file()


def has_config(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a run that was started (``config.yaml``)."""
    return (pathlib.Path(path) / CONFIG_FILE).is_file()


def is_completed(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a run whose ``metrics.json`` says completed.

    An unreadable ``metrics.json`` counts as not completed.
    """
    try:
        return bool(read_metrics(path).get("completed", False))
    except RunDirectoryError:
        return False

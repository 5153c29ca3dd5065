"""Reading saved run directories (the layout in ``docs/architecture.md``).

The study reads runs only through their files, so reports and figures can be
regenerated from any saved run without retraining. It needs only the light
files (``LIGHT_FILES``), never the weights: ``export_light_runs`` copies
them out of a study folder, e.g. to commit the runs behind the docs.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
from pathlib import Path
from typing import Any

from keras_resnet.errors import RunDirectoryError
from keras_resnet.run_layout import (
    CONFIG_FILE,
    DATASET_FILE,
    GRADIENTS_FILE,
    HISTORY_CSV_FILE,
    HISTORY_JSON_FILE,
    METRICS_FILE,
    has_history,
    read_config_values,
    read_json,
    read_metrics,
    read_optional_json,
)

# Everything the report and the figures read: no weights, backups or logs.
LIGHT_FILES = (
    CONFIG_FILE,
    HISTORY_CSV_FILE,
    HISTORY_JSON_FILE,
    METRICS_FILE,
    GRADIENTS_FILE,
    DATASET_FILE,
)


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """What a run directory holds, as plain Python values.

    Attributes:
        path: The run directory.
        model: Registered model name of the run.
        label: What the study calls the run: the model name, or the name a
            ``compare`` study gave a variant of it (``plain-56`` for
            ``mini_resnet`` with 9 blocks per stage and no skips).
        history: Per-epoch lists (``epoch``, ``loss``, ``accuracy``,
            ``val_loss``, ``val_accuracy``, ...), all of equal length.
        metrics: The contents of ``metrics.json`` (empty while training).
        gradient_norms: The contents of ``gradient_norms.json`` or None.
        dataset: The contents of ``dataset.json`` (empty when absent).
        config: The resolved training config (empty when absent).
    """

    path: Path
    model: str
    label: str
    history: dict[str, list[Any]]
    metrics: dict[str, Any]
    gradient_norms: dict[str, Any] | None
    dataset: dict[str, Any]
    config: dict[str, Any]

    @property
    def architecture(self) -> str:
        """The model and its builder options, ``mini_resnet(use_skip=False)``."""
        return describe_model(self.model, self.config.get("model_options"))

    @property
    def completed(self) -> bool:
        """Whether training finished (``metrics.json`` says ``completed``)."""
        return bool(self.metrics.get("completed", False))

    def series(self, key: str) -> list[float]:
        """A history column as floats (missing values become NaN)."""
        return [_to_float(value) for value in self.history.get(key, [])]

    @property
    def epochs(self) -> list[int]:
        """1-based epoch numbers of the history."""
        if "epoch" in self.history:
            return [int(e) for e in self.history["epoch"]]
        return list(range(1, len(self.history.get("loss", [])) + 1))


def describe_model(model: str, options: dict[str, Any] | None) -> str:
    """``mini_resnet(blocks_per_stage=9, use_skip=False)``, or the bare name."""
    if not options:
        return model
    return f"{model}({', '.join(f'{k}={v!r}' for k, v in options.items())})"


def load_run(run_dir: str | os.PathLike, *, label: str | None = None) -> RunRecord:
    """Read a run directory.

    Args:
        run_dir: A folder written by ``keras_resnet.train.train``.
        label: The run's name in a study (default: its model's name).

    Returns:
        A ``RunRecord``.

    Raises:
        RunDirectoryError: If the folder or its ``history.json`` is missing
            or a file in it cannot be parsed.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise RunDirectoryError(f"Run directory not found: {path}")
    if not has_history(path):
        raise RunDirectoryError(
            f"{path} is not a run directory (no {HISTORY_JSON_FILE})"
        )
    history = read_json(path / HISTORY_JSON_FILE)
    metrics = read_metrics(path)
    dataset = read_optional_json(path / DATASET_FILE) or {}
    config = read_config_values(path)
    model = metrics.get("model") or config.get("model") or path.name
    return RunRecord(
        path=path,
        model=str(model),
        label=str(label or model),
        history=history,
        metrics=metrics,
        gradient_norms=read_optional_json(path / GRADIENTS_FILE),
        dataset=dataset,
        config=config,
    )


def find_runs(paths: list[str | os.PathLike]) -> list[RunRecord]:
    """Load every run named by ``paths``.

    Each path may be a run directory, a ``compare`` output folder (its
    ``runs/`` subfolder is searched, and each run is labelled by its folder
    name, the name ``compare`` gave it) or a folder of run directories.

    Raises:
        RunDirectoryError: If a path holds no run directory.
    """
    runs = []
    for entry in paths:
        path = Path(entry)
        if has_history(path):
            runs.append(load_run(path))
            continue
        study = (path / "runs").is_dir()
        parent = path / "runs" if study else path
        found = (
            sorted(p for p in parent.iterdir() if has_history(p))
            if parent.is_dir()
            else []
        )
        if not found:
            raise RunDirectoryError(
                f"No run directory found in {path} (expected {HISTORY_JSON_FILE})"
            )
        runs.extend(load_run(p, label=p.name if study else None) for p in found)
    return runs


def export_light_runs(
    source: str | os.PathLike, destination: str | os.PathLike
) -> list[Path]:
    """Copy the light files of every run in ``source`` to ``destination/runs``.

    Only ``LIGHT_FILES`` are copied (config, history, metrics, gradient
    norms, dataset description): no ``.keras`` weights, no backup, no
    TensorBoard logs. That is all ``keras-resnet plot`` and
    ``report_study`` read, so the copy can be committed and redrawn.

    Example:
        The runs behind the docs, then every figure and table from them::

            export_light_runs("study-cpu", "docs/img/study")
            # then: keras-resnet plot docs/img/study --report

    Args:
        source: A ``compare`` output folder, a folder of run directories or
            one run directory.
        destination: The folder to copy into; run ``r`` goes to
            ``destination/runs/<name of r's folder>/``. Light files already
            there are replaced, nothing else is touched.

    Returns:
        The files written.

    Raises:
        RunDirectoryError: If ``source`` holds no readable run (checked for
            every run before anything is copied).
        ValueError: If ``destination`` is ``source`` or one of its runs.
    """
    runs = find_runs([source])
    target = Path(destination) / "runs"
    for run in runs:
        there = (target / run.path.name).resolve()
        if there == run.path.resolve() or run.path.resolve() in there.parents:
            raise ValueError(
                "destination must not be the source study or one of its runs. "
                f"Received: destination={destination}"
            )
    written = []
    for run in runs:
        folder = target / run.path.name
        folder.mkdir(parents=True, exist_ok=True)
        for name in LIGHT_FILES:
            if (run.path / name).is_file():
                written.append(Path(shutil.copyfile(run.path / name, folder / name)))
    return written


def _to_float(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan

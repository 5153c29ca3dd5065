"""Train several models with one recipe and report them side by side."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from keras_resnet.errors import RunDirectoryError
from keras_resnet.models import get_model_info
from keras_resnet.run_layout import has_config, has_history, is_completed
from keras_resnet.study.figures import plot_records
from keras_resnet.study.report import write_results
from keras_resnet.study.runs import RunRecord, load_run
from keras_resnet.train.config import TrainConfig

STUDY_MODELS = ("baseline_cnn", "mini_resnet", "resnet18", "resnet18_noskip")


@dataclasses.dataclass(frozen=True)
class StudyResults:
    """What ``compare`` produced.

    Attributes:
        output_dir: The study folder.
        runs: The run of each model, in the order asked for.
        rows: The results table (see ``keras_resnet.study.report.COLUMNS``).
        figures: Figure files written under ``output_dir/figures``.
        trained: Models trained (or resumed) by this call.
        reused: Models whose completed run was reused without training.
    """

    output_dir: Path
    runs: list[RunRecord]
    rows: list[dict[str, Any]]
    figures: list[Path]
    trained: list[str]
    reused: list[str]

    @property
    def report_path(self) -> Path:
        """The Markdown report."""
        return self.output_dir / "report.md"


def compare(
    models: Sequence[str],
    base_config: TrainConfig,
    *,
    output_dir: str | os.PathLike,
    resume: bool = True,
    overwrite: bool = False,
    callbacks: list | None = None,
    progress: Callable[[int, int, str, bool], None] | None = None,
) -> StudyResults:
    """Train each model with the same recipe, data and seed, then report.

    Model ``m`` is trained into ``output_dir/runs/m`` with ``base_config``
    (only ``model`` and ``output_dir`` change). A model whose run there is
    completed is not trained again unless ``overwrite``; an unfinished one
    continues from its last epoch when ``resume``. Then ``results.csv``,
    ``results.json``, ``report.md`` and the figures (``figures/``) are
    written to ``output_dir``.

    Example:
        >>> config = TrainConfig(dataset="synthetic", epochs=2)
        >>> results = compare(["resnet18", "resnet18_noskip"], config,
        ...                   output_dir="study")  # doctest: +SKIP

    Args:
        models: Registered model names, each at most once.
        base_config: The recipe shared by every model.
        output_dir: The study folder.
        resume: Continue an unfinished run instead of refusing it.
        overwrite: Retrain models whose run is already completed.
        callbacks: Extra Keras callbacks passed to every training run.
        progress: Called before each model as ``progress(index, total,
            name, trains)``: its 1-based position, the number of models, its
            name, and whether it trains (False: its completed run is reused).

    Returns:
        A ``StudyResults``.

    Raises:
        ValueError: For an empty or repeated model list, an unknown model
            name, or a ``base_config`` that is not a ``TrainConfig``.
    """
    names = validate_models(models)
    if not isinstance(base_config, TrainConfig):
        raise ValueError(
            "base_config must be a TrainConfig. "
            f"Received: base_config={type(base_config).__name__}"
        )
    output = Path(output_dir)
    trained, reused = [], []
    for index, name in enumerate(names, start=1):
        run_dir = output / "runs" / name
        trains = overwrite or not is_completed(run_dir)
        if progress is not None:
            progress(index, len(names), name, trains)
        if not trains:
            reused.append(name)
            continue
        config = base_config.replace(model=name, output_dir=str(run_dir))
        _train(
            config,
            # Only a run directory can be resumed (a bare folder is not one).
            resume=resume and has_config(run_dir) and not overwrite,
            overwrite=overwrite,
            callbacks=callbacks,
        )
        trained.append(name)
    return report_study(output, names, trained=trained, reused=reused)


def report_study(
    output_dir: str | os.PathLike,
    models: Sequence[str] | None = None,
    *,
    trained: Sequence[str] = (),
    reused: Sequence[str] = (),
) -> StudyResults:
    """Write the results files and figures for runs already in a study folder.

    Reads only the runs' light files (``keras_resnet.study.runs.LIGHT_FILES``),
    so it works on runs copied without their weights.

    Args:
        output_dir: The study folder (runs in ``output_dir/runs/<model>``).
        models: The models to report, in table order. Default: the models of
            the folder's ``results.json`` still present, then the other run
            folders in name order.
        trained: Recorded in the result as trained by this call.
        reused: Recorded in the result as reused.

    Raises:
        RunDirectoryError: If a model's run is missing or unreadable, or
            ``models`` is None and the folder holds no run.
    """
    output = Path(output_dir)
    if models is None:
        models = study_models(output)
    runs = [load_run(output / "runs" / name) for name in models]
    figures = plot_records(runs, output / "figures")
    rows = write_results(runs, output, figures=figures)
    return StudyResults(output, runs, rows, figures, list(trained), list(reused))


def study_models(output_dir: str | os.PathLike) -> list[str]:
    """The runs of a study folder in report order (see ``report_study``).

    Raises:
        RunDirectoryError: If ``output_dir/runs`` holds no run directory.
    """
    runs = Path(output_dir) / "runs"
    present = (
        sorted(p.name for p in runs.iterdir() if has_history(p))
        if runs.is_dir()
        else []
    )
    if not present:
        raise RunDirectoryError(f"No run directory found in {runs}")
    try:
        rows = json.loads((Path(output_dir) / "results.json").read_text("utf-8"))
        order = [str(row["model"]) for row in rows["results"]]
    except (OSError, ValueError, KeyError, TypeError):
        order = []  # no or an unreadable table: name order
    first = [name for name in dict.fromkeys(order) if name in present]
    return first + [name for name in present if name not in first]


def validate_models(models: Sequence[str]) -> list[str]:
    """Check a model list: non-empty, registered names, no repeats.

    Raises:
        ValueError: Naming the offending value.
    """
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    names = list(models)
    if not names:
        raise ValueError(
            f"models must name at least one model. Received: models={names}"
        )
    for name in names:
        get_model_info(name)
        if names.count(name) > 1:
            raise ValueError(f"Each model may appear once. Received: models={names}")
    return names


def _train(config: TrainConfig, *, resume: bool, overwrite: bool, callbacks):
    # Imported here: the engine pulls in TensorFlow, which reading and
    # plotting saved runs never needs.
    from keras_resnet.train import train

    return train(config, resume=resume, overwrite=overwrite, callbacks=callbacks)

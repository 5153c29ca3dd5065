"""Train several models with one recipe and report them side by side."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from keras_resnet.errors import RunDirectoryError
from keras_resnet.run_layout import (
    has_config,
    has_history,
    is_completed,
    read_config_values,
)
from keras_resnet.study.figures import plot_records
from keras_resnet.study.formats import DEFAULT_FORMATS, check_formats
from keras_resnet.study.report import write_results
from keras_resnet.study.runs import RunRecord, describe_model, load_run
from keras_resnet.train.config import TrainConfig

STUDY_MODELS = ("baseline_cnn", "mini_resnet", "resnet18", "resnet18_noskip")
# A label names its run's folder (OUTPUT/runs/<label>), so it is one plain
# path component.
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_ENTRY_KEYS = ("model", "model_options")


@dataclasses.dataclass(frozen=True)
class StudyModel:
    """One model of a study: a registered model, maybe with builder arguments.

    Attributes:
        label: Its name in the study: the folder of its run
            (``OUTPUT/runs/<label>``), its row of the tables and its entry in
            the figures' legends.
        model: Registered model name.
        model_options: Builder arguments laid over the recipe's
            ``model_options`` (``{"blocks_per_stage": 9, "use_skip": False}``
            makes ``mini_resnet`` a plain 56-layer net).
    """

    label: str
    model: str
    model_options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def describe(self) -> str:
        """``mini_resnet(blocks_per_stage=9, use_skip=False)``, or the name."""
        return describe_model(self.model, self.model_options)


def parse_study_models(models) -> list[StudyModel]:
    """The models of a study, from any of the forms ``compare`` accepts.

    Example:
        He et al.'s Fig. 6 at two depths, as ``configs/study/
        degradation_cpu.yaml`` writes it::

            parse_study_models({
                "plain-20": {"model": "mini_resnet",
                             "model_options": {"use_skip": False}},
                "resnet-20": "mini_resnet",
            })

    Args:
        models: Registered model names (a sequence, or one comma-separated
            string), each its own label; ``StudyModel``s; or a mapping of
            label to a model name or to a mapping with the keys ``model`` and,
            optionally, ``model_options``.

    Returns:
        The ``StudyModel``s, in the order given.

    Raises:
        ValueError: For an empty list, a repeated label, a label that is not
            a plain folder name, an entry without ``model``, a key other than
            ``model`` and ``model_options``, or options that are not a
            mapping (the message names the label). Model names are checked
            by ``compare``.
    """
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    if isinstance(models, Mapping):
        entries = [_entry(label, value) for label, value in models.items()]
    elif isinstance(models, Sequence):
        entries = [
            m if isinstance(m, StudyModel) else _entry(m, str(m)) for m in models
        ]
    else:
        raise ValueError(
            "models must be a list of model names or a mapping of labels to "
            f"models. Received: models={models!r}"
        )
    if not entries:
        raise ValueError(
            f"models must name at least one model. Received: models={models!r}"
        )
    labels = [entry.label for entry in entries]
    for entry in entries:
        if not _LABEL.fullmatch(entry.label):  # _entry made every label a str
            raise ValueError(
                "A study label must be a plain folder name (letters, digits, "
                f"'.', '_', '-'). Received: label={entry.label!r}"
            )
        if labels.count(entry.label) > 1:
            raise ValueError(f"Each model may appear once. Received: models={labels}")
    return entries


def _entry(label, value) -> StudyModel:
    if isinstance(value, str):
        return StudyModel(str(label), value)
    if not isinstance(value, Mapping):
        raise ValueError(
            f"Study model {label!r} must be a model name or a mapping with "
            f"'model' and 'model_options'. Received: {label}={value!r}"
        )
    unknown = [key for key in value if key not in _ENTRY_KEYS]
    if unknown:
        raise ValueError(
            f"Study model {label!r} has the key {unknown[0]!r}, but takes only "
            "'model' and 'model_options' (the recipe is shared by every model). "
            f"Received: {label}.{unknown[0]}={value[unknown[0]]!r}"
        )
    if not isinstance(value.get("model"), str):
        raise ValueError(
            f"Study model {label!r} needs 'model', a registered model name. "
            f"Received: {label}={dict(value)!r}"
        )
    options = value.get("model_options") or {}
    if not isinstance(options, Mapping):
        raise ValueError(
            f"The model_options of study model {label!r} must be a mapping. "
            f"Received: {label}.model_options={options!r}"
        )
    return StudyModel(str(label), value["model"], dict(options))


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
    figure_formats: Sequence[str] = DEFAULT_FORMATS,
) -> StudyResults:
    """Train each model with the same recipe, data and seed, then report.

    Model ``m`` is trained into ``output_dir/runs/m`` with ``base_config``
    (only ``model``, ``output_dir`` and, for a labelled variant, its
    ``model_options`` change: ``study_configs``). A model whose run there is
    completed is not trained again unless ``overwrite``; an unfinished one
    continues from its last epoch when ``resume``. Then ``results.csv``,
    ``results.json``, ``report.md`` and the figures (``figures/``) are
    written to ``output_dir``.

    Example:
        >>> config = TrainConfig(dataset="synthetic", epochs=2)
        >>> results = compare(["resnet18", "resnet18_noskip"], config,
        ...                   output_dir="study")  # doctest: +SKIP

    Args:
        models: The models, each at most once: registered names, or
            labelled variants (see ``parse_study_models``).
        base_config: The recipe shared by every model.
        output_dir: The study folder.
        resume: Continue an unfinished run instead of refusing it.
        overwrite: Retrain models whose run is already completed.
        callbacks: Extra Keras callbacks passed to every training run.
        progress: Called before each model as ``progress(index, total,
            name, trains)``: its 1-based position, the number of models, its
            name, and whether it trains (False: its completed run is reused).
        figure_formats: File formats of the figures
            (``keras_resnet.study.figures.FORMATS``).

    Returns:
        A ``StudyResults``.

    Raises:
        ValueError: Before anything trains: for an empty or repeated model
            list, an unknown model name, a builder argument a model does not
            take, a ``base_config`` that is not a ``TrainConfig``, or an
            unknown figure format.
    """
    figure_formats = check_formats(figure_formats)
    if not isinstance(base_config, TrainConfig):
        raise ValueError(
            "base_config must be a TrainConfig. "
            f"Received: base_config={type(base_config).__name__}"
        )
    output = Path(output_dir)
    # Every model's config is checked before the first one trains.
    configs = study_configs(models, base_config, output / "runs")
    names = list(configs)
    if not overwrite:
        for name, config in configs.items():
            _check_same_model(name, config)
    trained, reused = [], []
    for index, (name, config) in enumerate(configs.items(), start=1):
        run_dir = Path(config.output_dir)
        trains = overwrite or not is_completed(run_dir)
        if progress is not None:
            progress(index, len(names), name, trains)
        if not trains:
            reused.append(name)
            continue
        _train(
            config,
            # Only a run directory can be resumed (a bare folder is not one).
            resume=resume and has_config(run_dir) and not overwrite,
            overwrite=overwrite,
            callbacks=callbacks,
        )
        trained.append(name)
    return report_study(
        output, names, trained=trained, reused=reused, figure_formats=figure_formats
    )


def report_study(
    output_dir: str | os.PathLike,
    models: Sequence[str] | None = None,
    *,
    trained: Sequence[str] = (),
    reused: Sequence[str] = (),
    figure_formats: Sequence[str] = DEFAULT_FORMATS,
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
        figure_formats: File formats of the figures
            (``keras_resnet.study.figures.FORMATS``).

    Raises:
        ValueError: For an unknown figure format.
        RunDirectoryError: If a model's run is missing or unreadable, or
            ``models`` is None and the folder holds no run.
    """
    figure_formats = check_formats(figure_formats)
    output = Path(output_dir)
    if models is None:
        models = study_models(output)
    runs = [load_run(output / "runs" / name, label=name) for name in models]
    figures = plot_records(runs, output / "figures", figure_formats)
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


def study_configs(
    models, base_config: TrainConfig, runs_dir: str | os.PathLike
) -> dict[str, TrainConfig]:
    """Each study model's training config, checked, by label.

    Model ``m`` gets ``base_config`` with its model, its ``model_options``
    laid over the recipe's, and ``runs_dir/<label>`` as its run directory.

    Args:
        models: See ``parse_study_models``.
        base_config: The recipe shared by every model.
        runs_dir: The folder of the study's runs.

    Raises:
        ValueError: For anything ``parse_study_models`` refuses, an unregistered
            model, or a builder argument the model does not take (naming it).
    """
    # Imported here: the registry imports Keras, which reading and plotting
    # saved runs never needs.
    from keras_resnet.models.registry import check_builder_kwargs

    configs = {}
    for entry in parse_study_models(models):
        options = {**base_config.model_options, **entry.model_options}
        check_builder_kwargs(entry.model, options)
        configs[entry.label] = base_config.replace(
            model=entry.model,
            model_options=options,
            output_dir=str(Path(runs_dir) / entry.label),
        )
    return configs


def _check_same_model(label: str, config: TrainConfig) -> None:
    """Refuse to reuse or resume a run that trained another model.

    A label's definition can change between two calls (a variant's depth
    edited in the study's YAML); its old run must not stand in for it.
    """
    run_dir = Path(config.output_dir)
    if not has_config(run_dir):
        return
    saved = read_config_values(run_dir)
    before = (saved.get("model"), saved.get("model_options") or {})
    if before != (config.model, config.model_options):
        then = describe_model(str(before[0]), before[1])
        now = describe_model(config.model, config.model_options)
        raise ValueError(
            f"The run of study model {label!r} in {run_dir} trained {then}, "
            f"not {now}; retrain it with overwrite (--overwrite) or give the "
            f"new model another label. Received: {label}={now}"
        )


def _train(config: TrainConfig, *, resume: bool, overwrite: bool, callbacks):
    # Imported here: the engine pulls in TensorFlow, which reading and
    # plotting saved runs never needs.
    from keras_resnet.train import train

    return train(config, resume=resume, overwrite=overwrite, callbacks=callbacks)

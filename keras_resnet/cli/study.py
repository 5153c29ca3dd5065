"""``keras-resnet compare`` and ``keras-resnet plot``: the study from the shell."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from keras_resnet.cli.options import TrainingOptions, resolve_config, training_options
from keras_resnet.cli.output import (
    format_duration,
    format_table,
    known_models,
    plural,
    unknown_model_message,
)
from keras_resnet.cli.progress import epoch_progress, library_progress
from keras_resnet.study.formats import DEFAULT_FORMATS, FORMATS

DEFAULT_MODELS = "baseline_cnn,mini_resnet,resnet18,resnet18_noskip"

COMPARE_EPILOG = """\b
Examples:
  keras-resnet compare --config configs/study/compare.yaml --output study
  keras-resnet compare --config configs/study/quick_cpu.yaml --output study-cpu
  keras-resnet compare --models resnet18,resnet18_noskip --dataset synthetic \\
      --epochs 2 --width-multiplier 0.0625 --max-train-examples 256

\b
Each model trains into OUTPUT/runs/<model>/. Run the same command again to
continue: completed models are reused, an interrupted one resumes.
Precedence: TrainConfig defaults < --config FILE < options given here.
"""

PLOT_EPILOG = """\b
Examples:
  keras-resnet plot study                      (a compare output folder)
  keras-resnet plot study --report             (and its results and report.md)
  keras-resnet plot runs/resnet18-20261125-101500 runs/baseline_cnn-20261125-113000 \\
      --output figures

\b
Only the runs' light files are read (config.yaml, history, metrics.json,
gradient_norms.json, dataset.json); no model file is needed.
"""


def _parse_models(ctx: click.Context, param: click.Parameter, value: str | None):
    """The study's models: ``--models``, else the config file's, else the
    four of the study. ``--models`` may name the file's labels."""
    config_file = ctx.params.get("config_file")
    labelled = {m.label: m for m in (config_file.models or [])} if config_file else {}
    if value is None:
        return list(labelled.values()) or DEFAULT_MODELS.split(",")
    names = [name.strip() for name in value.split(",") if name.strip()]
    known = known_models()
    unknown = [name for name in names if name not in known and name not in labelled]
    if not names:
        raise click.BadParameter(
            f"no model given; known models: {', '.join(known)}.", ctx, param
        )
    if unknown:
        message = unknown_model_message(unknown[0], known)
        if labelled:
            message += f" The config file's models: {', '.join(labelled)}."
        raise click.BadParameter(message, ctx, param)
    if len(set(names)) != len(names):
        raise click.BadParameter(f"each model may appear once: {value}", ctx, param)
    return [labelled.get(name, name) for name in names]


def _complete_models(ctx: click.Context, param: click.Parameter, incomplete: str):
    """Shell completion of the last name in ``NAME,NAME,...``."""
    done, _, last = incomplete.rpartition(",")
    prefix = f"{done}," if done else ""
    return [prefix + name for name in known_models() if name.startswith(last)]


_FORMAT_HELP = (
    "File format of the figures; repeat for several (each one draws every "
    "figure again; report.md shows the PNG, else the SVG)."
)


def _figure_format_option(*names: str):
    return click.option(
        *names,
        "formats",
        type=click.Choice(FORMATS),
        multiple=True,
        default=DEFAULT_FORMATS,
        show_default=True,
        help=_FORMAT_HELP,
    )


@click.command(epilog=COMPARE_EPILOG)
@click.option(
    "--models",
    callback=_parse_models,
    shell_complete=_complete_models,
    metavar="NAME,NAME,...",
    help="Models to train, comma-separated, in report order: registered names "
    "or labels of the config file's 'models'.  [default: the config file's "
    f"'models', else {DEFAULT_MODELS}]",
)
@training_options
@click.option(
    "--output",
    type=click.Path(file_okay=False),
    help="Study folder (runs/, results.csv/json, report.md, figures/).  "
    "[default: --output-dir, or the config's output_dir, or 'study']",
)
@click.option(
    "--resume/--no-resume",
    default=True,
    show_default=True,
    help="Continue an interrupted model's run instead of refusing it.",
)
@click.option("--overwrite", is_flag=True, help="Retrain models already completed.")
@_figure_format_option("--figure-format")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars; summary only.")
def compare(
    models: list[str],
    training: TrainingOptions,
    output: str | None,
    resume: bool,
    overwrite: bool,
    formats: tuple[str, ...],
    quiet: bool,
) -> None:
    """Train several models with one recipe, data and seed, and report them.

    Writes results.csv, results.json, report.md (with the reference study's
    numbers beside ours) and the figures to the study folder.
    """
    if training.skip is not None:
        raise click.UsageError(
            "--skip/--no-skip does not apply to compare; "
            "list resnet18_noskip in --models instead."
        )
    config = resolve_config(training)
    folder = Path(_study_folder(output, training, config.output_dir))
    callbacks = []
    if quiet:
        config = config.replace(verbose=0)
    else:
        config, callbacks = epoch_progress(
            config, verbose_given=_verbose_given(training)
        )
    from keras_resnet.run_layout import is_completed
    from keras_resnet.study import compare as run_study

    for model in models:
        name = getattr(model, "label", model)
        state = "completed, reused" if is_completed(folder / "runs" / name) else ""
        click.echo(f"{name}: {state or 'to train'} -> {folder / 'runs' / name}")
    with contextlib.nullcontext() if quiet else library_progress():
        results = run_study(
            models,
            config,
            output_dir=folder,
            resume=resume,
            overwrite=overwrite,
            callbacks=callbacks,
            progress=None if quiet else _model_progress(config, callbacks),
            figure_formats=_distinct(formats),
        )
    click.echo(_summary_table(results.rows))
    click.echo(f"Report: {results.report_path}")
    click.echo(f"Figures: {folder / 'figures'} ({len(results.figures)} files)")


def _verbose_given(training: TrainingOptions) -> bool:
    values = training.config_file.values if training.config_file else {}
    return "verbose" in training.fields or "verbose" in values


def _model_progress(config, callbacks):
    """Prints ``model 2/4: resnet18 (training 30 epochs)`` before each model."""

    def progress(index: int, total: int, name: str, trains: bool) -> None:
        what = f"training {plural(config.epochs, 'epoch')}" if trains else "reused"
        click.echo(f"model {index}/{total}: {name} ({what})", err=True)
        for callback in callbacks:
            callback.prefix = f"[{index}/{total} {name}] "

    return progress


def _study_folder(output, training: TrainingOptions, config_output) -> str:
    given = training.fields.get("output_dir")
    if output and given and Path(output) != Path(given):
        raise click.UsageError(
            "--output and --output-dir name different folders; give one."
        )
    return output or given or config_output or "study"


def _summary_table(rows) -> str:
    def pct(value):
        return "-" if value is None else f"{100 * value:.1f}%"

    return format_table(
        ["model", "test acc", "reference", "best val", "epoch", "time"],
        [
            [
                r["model"],
                pct(r["test_accuracy"]),
                pct(r["reference_test_accuracy"]),
                pct(r["best_val_accuracy"]),
                "-" if r["best_epoch"] is None else r["best_epoch"],
                "-"
                if r["total_seconds"] is None
                else format_duration(r["total_seconds"]),
            ]
            for r in rows
        ],
    )


@click.command(epilog=PLOT_EPILOG)
@click.argument(
    "run_dirs",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, file_okay=False),
    metavar="RUN_DIR...",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False),
    help="Folder for the figures.  [default: STUDY/figures for one compare "
    "folder, else 'figures']",
)
@click.option(
    "--report",
    is_flag=True,
    help="Also rewrite results.csv, results.json and report.md (gradient-flow "
    "table included) of the one compare folder given.",
)
@_figure_format_option("--format")
def plot(
    run_dirs: tuple[str, ...],
    output: str | None,
    report: bool,
    formats: tuple[str, ...],
) -> None:
    """Draw the study's figures (PNG, or --format) from saved runs, without
    training.

    RUN_DIR may be a run directory, a compare output folder or a folder of
    run directories.
    """
    formats = _distinct(formats)
    if report:
        _plot_report(run_dirs, output, formats)
        return
    from keras_resnet.study import plot_runs

    if output is None:
        single = Path(run_dirs[0])
        output = str(
            single / "figures"
            if len(run_dirs) == 1 and (single / "runs").is_dir()
            else "figures"
        )
    files = plot_runs(list(run_dirs), output, formats)
    for path in files:
        click.echo(str(path))


def _distinct(formats: tuple[str, ...]) -> tuple[str, ...]:
    """``--format png --format png`` asks for one PNG."""
    return tuple(dict.fromkeys(formats))


def _plot_report(
    run_dirs: tuple[str, ...], output: str | None, formats: tuple[str, ...]
) -> None:
    if len(run_dirs) != 1 or not (Path(run_dirs[0]) / "runs").is_dir():
        raise click.UsageError(
            "--report needs exactly one compare folder (a folder with runs/)."
        )
    if output is not None:
        raise click.UsageError(
            "--report writes the figures to STUDY/figures; drop --output."
        )
    from keras_resnet.study import report_study

    results = report_study(run_dirs[0], figure_formats=formats)
    for path in results.figures:
        click.echo(str(path))
    click.echo(f"Report: {results.report_path}")

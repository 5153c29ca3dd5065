"""The study's figures, drawn from saved runs with matplotlib's Agg canvas.

Every figure is written as PNG and SVG. A model keeps the same colour in
every figure. Figures are built on ``matplotlib.figure.Figure`` directly, so
nothing touches pyplot's global state or needs a display.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from keras_resnet.study.report import sorted_records
from keras_resnet.study.runs import RunRecord, find_runs

# Fixed colours for the study's models (matplotlib's tab10 palette), so the
# same model looks the same in every figure and every report.
MODEL_COLORS = {
    "resnet18": "#1f77b4",
    "resnet18_noskip": "#d62728",
    "baseline_cnn": "#2ca02c",
    "mini_resnet": "#ff7f0e",
}
_SPARE_COLORS = ("#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
EMPHASISED = ("resnet18", "resnet18_noskip")
FORMATS = ("png", "svg")


def model_colors(names: Sequence[str]) -> dict[str, str]:
    """A colour per model name: fixed for the study's models, then tab10."""
    spare = iter(_SPARE_COLORS * (1 + len(names) // len(_SPARE_COLORS)))
    return {name: MODEL_COLORS.get(name) or next(spare) for name in names}


def plot_runs(
    run_dirs: Sequence[str | os.PathLike], output_dir: str | os.PathLike
) -> list[Path]:
    """Draw the study's figures from saved runs.

    Args:
        run_dirs: Run directories, ``compare`` output folders, or folders of
            run directories (see ``keras_resnet.study.runs.find_runs``).
        output_dir: Folder for the figure files (created if needed).

    Returns:
        The files written: Fig. 1 training curves, Fig. 2 validation curves,
        Fig. 3 gradient norms across depth and their layer x epoch heat
        maps, Fig. 4 and Fig. 5 (Fig. 1 and 2 with the ResNet-18 variants
        emphasised), each as PNG and SVG.

    Raises:
        RunDirectoryError: If a path holds no readable run.
    """
    return plot_records(find_runs(list(run_dirs)), output_dir)


def plot_records(
    runs: Sequence[RunRecord], output_dir: str | os.PathLike
) -> list[Path]:
    """Like ``plot_runs``, from already loaded runs."""
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    labels = _labels(runs)
    colors = model_colors(labels)
    figures = {
        "fig1_training_curves": _curves(runs, labels, colors, "train"),
        "fig2_validation_curves": _curves(runs, labels, colors, "val"),
        "fig3_gradient_norms": _gradient_profiles(runs, labels, colors),
        "fig3_gradient_heatmaps": _gradient_heatmaps(runs, labels),
        "fig4_training_resnet18": _curves(runs, labels, colors, "train", True),
        "fig5_validation_resnet18": _curves(runs, labels, colors, "val", True),
    }
    return [
        path
        for stem, figure in figures.items()
        for path in _save(figure, output / stem)
    ]


def _labels(runs: Sequence[RunRecord]) -> list[str]:
    # Two runs of one model are told apart by their folder names.
    counts = {}
    for run in runs:
        counts[run.model] = counts.get(run.model, 0) + 1
    return [
        run.model if counts[run.model] == 1 else f"{run.model} ({run.path.name})"
        for run in runs
    ]


def _curves(runs, labels, colors, split: str, emphasise: bool = False) -> Figure:
    prefix, title = ("", "Training") if split == "train" else ("val_", "Validation")
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    axes = figure.subplots(1, 2)
    for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
        for run, label in zip(runs, labels, strict=True):
            values = run.series(prefix + metric)
            if not values or all(math.isnan(v) for v in values):
                continue
            strong = not emphasise or run.model in EMPHASISED
            ax.plot(
                run.epochs[: len(values)],
                values,
                label=label,
                color=colors[label],
                linewidth=2.6 if emphasise and strong else 1.6,
                alpha=1.0 if strong else 0.3,
                zorder=3 if strong else 2,
                marker="o" if len(values) <= 12 else None,
                markersize=3,
            )
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(f"{title.lower()} {metric}")
        ax.set_title(f"{title} {metric}")
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend()
    suffix = " (ResNet-18 with and without skips emphasised)" if emphasise else ""
    figure.suptitle(f"{title} accuracy and loss per epoch{suffix}")
    return figure


def _gradient_profiles(runs, labels, colors) -> Figure:
    figure = Figure(figsize=(11, 4.8), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    for ax, which, title in zip(
        axes, (0, -1), ("first record", "end of training"), strict=True
    ):
        moments = []
        for run, label in zip(runs, labels, strict=True):
            profile = _profile(run, which)
            if profile is None:
                continue
            depth, norms, when = profile
            moments.append(when)
            ax.plot(depth, norms, label=label, color=colors[label], marker=".")
        ax.set_yscale("log")
        ax.set_xlabel("layer depth (input to output)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("gradient L2 norm (log scale)")
        when = moments[0] if len(set(moments)) == 1 else "per model"
        ax.set_title(f"{title} ({when})" if moments else title)
        ax.grid(alpha=0.3, which="both")
    handles, names = axes[0].get_legend_handles_labels()
    if handles:
        # One legend below both panels, so it never hides a line.
        figure.legend(handles, names, loc="outside lower center", ncols=len(names))
    figure.suptitle("Per-layer gradient norm across depth")
    return figure


def _profile(run: RunRecord, which: int):
    if not run.gradient_norms or not run.gradient_norms.get("records"):
        return None
    record = sorted_records(run.gradient_norms)[which]
    layers = [
        layer
        for layer in run.gradient_norms.get("layers") or record["norms"]
        if (record["norms"].get(layer) or 0) > 0
    ]
    if not layers:
        return None
    norms = [record["norms"][layer] for layer in layers]
    when = f"epoch {record['epoch']}, step {record['step']}"
    return list(range(1, len(layers) + 1)), norms, when


def _gradient_heatmaps(runs, labels) -> Figure:
    with_norms = [
        (run, label)
        for run, label in zip(runs, labels, strict=True)
        if run.gradient_norms and run.gradient_norms.get("records")
    ]
    panels = max(1, len(with_norms))
    figure = Figure(figsize=(4.2 * panels, 4.8), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, panels))
    if not with_norms:
        axes[0].set_title("No gradient norms recorded")
        axes[0].set_axis_off()
    matrices = [_norm_matrix(run.gradient_norms) for run, _ in with_norms]
    norm = _shared_log_norm([matrix for matrix, _, _ in matrices])
    for ax, (_, label), (matrix, layers, columns) in zip(
        axes[: len(with_norms)], with_norms, matrices, strict=True
    ):
        image = ax.imshow(
            np.ma.masked_invalid(matrix),
            aspect="auto",
            origin="lower",
            cmap=matplotlib.colormaps["viridis"],
            norm=norm,
            interpolation="nearest",
            extent=(-0.5, len(columns) - 0.5, 0.5, len(layers) + 0.5),
        )
        ax.set_xticks(range(len(columns)), [str(c) for c in columns])
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epochs trained")
        ax.set_ylabel("layer depth (input to output)")
        ax.set_title(label)
        figure.colorbar(image, ax=ax, label="gradient L2 norm (log scale)")
    figure.suptitle("Gradient norm per layer and epoch")
    return figure


def _norm_matrix(gradient_norms):
    # Columns: records at epoch boundaries (step 0), i.e. the start of each
    # epoch and, as (epochs, 0), the end of training.
    records = [r for r in sorted_records(gradient_norms) if r["step"] == 0]
    records = records or sorted_records(gradient_norms)
    layers = gradient_norms.get("layers") or list(records[0]["norms"])
    matrix = np.array(
        [[_positive(r["norms"].get(layer)) for r in records] for layer in layers],
        dtype=float,
    )
    return matrix, layers, [r["epoch"] for r in records]


def _shared_log_norm(matrices) -> LogNorm | None:
    # One colour scale for all panels, so models can be compared by colour.
    values = np.concatenate([m[np.isfinite(m) & (m > 0)] for m in matrices] or [[]])
    return LogNorm(values.min(), values.max()) if values.size else None


def _positive(value) -> float:
    return float(value) if value is not None and value > 0 else math.nan


def _save(figure: Figure, stem: Path) -> list[Path]:
    paths = []
    for fmt in FORMATS:
        path = stem.with_suffix(f".{fmt}")
        # No creation date and fixed element ids in the SVG, so redrawing the
        # same runs gives byte-identical files.
        metadata = {"Date": None} if fmt == "svg" else None
        with matplotlib.rc_context({"svg.hashsalt": "keras-resnet"}):
            figure.savefig(path, dpi=120 if fmt == "png" else None, metadata=metadata)
        paths.append(path)
    return paths

"""The study's figures, drawn from saved runs with matplotlib's Agg canvas.

Every figure is written as PNG, or in the formats asked for (PNG, SVG,
PDF), byte for byte the same when the same runs are drawn again. A model
keeps the same colour in every figure. Figures are built on
``matplotlib.figure.Figure`` directly, so nothing touches pyplot's global
state or needs a display.
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
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from keras_resnet.study.formats import DEFAULT_FORMATS, check_formats
from keras_resnet.study.gradients import (
    LayerLayout,
    layer_layout,
    layer_names,
    layer_role,
    sorted_records,
    train_entries,
)
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
# The PNG's resolution (the vector formats use the figure's own).
PNG_DPI = 120
# Metadata that would differ between two drawings of the same runs.
_NO_DATE = {"png": None, "svg": {"Date": None}, "pdf": {"CreationDate": None}}
# Shortcut convolutions: hollow markers off the main-path line.
SHORTCUT_MARKER = "^"
# Main-path layers up to which every position gets its own tick label.
MAX_TICK_LABELS = 40


def model_colors(names: Sequence[str]) -> dict[str, str]:
    """A colour per model name: fixed for the study's models, then tab10."""
    spare = iter(_SPARE_COLORS * (1 + len(names) // len(_SPARE_COLORS)))
    return {name: MODEL_COLORS.get(name) or next(spare) for name in names}


def plot_runs(
    run_dirs: Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    formats: Sequence[str] = DEFAULT_FORMATS,
) -> list[Path]:
    """Draw the study's figures from saved runs.

    Args:
        run_dirs: Run directories, ``compare`` output folders, or folders of
            run directories (see ``keras_resnet.study.runs.find_runs``).
        output_dir: Folder for the figure files (created if needed).
        formats: File formats of each figure, in the order listed
            (``keras_resnet.study.formats.FORMATS``: ``"png"``, ``"svg"``,
            ``"pdf"``).

    Returns:
        The files written: Fig. 1 training curves, Fig. 2 validation curves,
        Fig. 3 gradient norms across depth and their layer x epoch heat
        maps, Fig. 4 and Fig. 5 (Fig. 1 and 2 with the ResNet-18 variants
        emphasised; only when a run is labelled ``resnet18`` or
        ``resnet18_noskip``), Fig. 6 training and validation error of the
        plain and the residual nets side by side (He et al. 2016, Fig. 6),
        each in every format of ``formats``; and, when a run recorded the
        norms of the training gradients (``train`` in ``gradient_norms.json``),
        ``fig3_training_gradient_norms``. Layers are placed by role
        (``keras_resnet.study.gradients.layer_layout``).

    Raises:
        ValueError: For an unknown or repeated format, or none.
        RunDirectoryError: If a path holds no readable run.
    """
    formats = check_formats(formats)
    return plot_records(find_runs(list(run_dirs)), output_dir, formats)


def plot_records(
    runs: Sequence[RunRecord],
    output_dir: str | os.PathLike,
    formats: Sequence[str] = DEFAULT_FORMATS,
) -> list[Path]:
    """Like ``plot_runs``, from already loaded runs."""
    formats = check_formats(formats)
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    labels = _labels(runs)
    colors = model_colors(labels)
    figures = {
        "fig1_training_curves": _curves(runs, labels, colors, "train"),
        "fig2_validation_curves": _curves(runs, labels, colors, "val"),
        "fig3_gradient_norms": _gradient_profiles(runs, labels, colors),
        "fig3_gradient_heatmaps": _gradient_heatmaps(runs, labels),
    }
    if any(train_entries(run.gradient_norms) for run in runs):
        figures["fig3_training_gradient_norms"] = _training_profiles(
            runs, labels, colors
        )
    # Fig. 4 and 5 single out the ResNet-18 pair; without them they would be
    # Fig. 1 and 2 greyed out.
    if any(run.label in EMPHASISED for run in runs):
        figures["fig4_training_resnet18"] = _curves(runs, labels, colors, "train", True)
        figures["fig5_validation_resnet18"] = _curves(runs, labels, colors, "val", True)
    figures["fig6_error_curves"] = _error_curves(runs, labels, colors)
    return [
        path
        for stem, figure in figures.items()
        for path in _save(figure, output / stem, formats)
    ]


def _labels(runs: Sequence[RunRecord]) -> list[str]:
    # Two runs with one label are told apart by their folder names.
    counts = {}
    for run in runs:
        counts[run.label] = counts.get(run.label, 0) + 1
    return [
        run.label if counts[run.label] == 1 else f"{run.label} ({run.path.name})"
        for run in runs
    ]


def shortcut_kind(run: RunRecord) -> str:
    """``"plain"``, ``"residual"`` or ``"other"`` (a model this package
    does not ship, whose shortcuts it cannot tell from its light files).

    A run built with ``use_skip=False`` is plain whatever its model.
    """
    from keras_resnet.models.catalog import CATALOG

    if (run.config.get("model_options") or {}).get("use_skip") is False:
        return "plain"
    entry = CATALOG.get(run.model)
    if entry is None:
        return "other"
    return "residual" if entry.has_skip else "plain"


_KIND_TITLES = {
    "plain": "Plain (no shortcuts)",
    "residual": "Residual (with shortcuts)",
    "other": "Other models",
}


def _error_curves(runs, labels, colors) -> Figure:
    # He et al. (2016), Fig. 6: training error dashed and thin, held-out
    # error solid and bold, plain nets beside residual ones on one scale.
    groups = {kind: [] for kind in _KIND_TITLES}
    for run, label in zip(runs, labels, strict=True):
        groups[shortcut_kind(run)].append((run, label))
    panels = [(kind, members) for kind, members in groups.items() if members]
    figure = Figure(figsize=(5.5 * len(panels) + 0.5, 4.6), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(panels), sharey=True))
    for ax, (kind, members) in zip(axes, panels, strict=True):
        for run, label in members:
            for key, style in (
                ("accuracy", dict(linestyle="--", linewidth=1.0)),
                ("val_accuracy", dict(linewidth=2.4, label=label)),
            ):
                errors = [100.0 * (1.0 - v) for v in run.series(key)]
                if errors and not all(math.isnan(v) for v in errors):
                    ax.plot(
                        run.epochs[: len(errors)], errors, color=colors[label], **style
                    )
        _set_title(ax, _KIND_TITLES[kind])
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.has_data():
            handles, names = ax.get_legend_handles_labels()
            handles += [
                Line2D([], [], color="black", linestyle="--", linewidth=1.0),
                Line2D([], [], color="black", linewidth=2.4),
            ]
            names += ["training error", "validation error"]
            ax.legend(handles, names)
    axes[0].set_ylabel("error (%)")
    figure.suptitle("Training (dashed) and validation (solid) error per epoch")
    return figure


def _curves(runs, labels, colors, split: str, emphasise: bool = False) -> Figure:
    prefix, title = ("", "Training") if split == "train" else ("val_", "Validation")
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    axes = figure.subplots(1, 2)
    for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
        for run, label in zip(runs, labels, strict=True):
            values = run.series(prefix + metric)
            if not values or all(math.isnan(v) for v in values):
                continue
            strong = not emphasise or run.label in EMPHASISED
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
        _set_title(ax, f"{title} {metric}")
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend()
    suffix = " (ResNet-18 with and without skips emphasised)" if emphasise else ""
    figure.suptitle(f"{title} accuracy and loss per epoch{suffix}")
    return figure


def _gradient_profiles(runs, labels, colors) -> Figure:
    figure = Figure(figsize=(11, 5.2), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    layouts = []
    for ax, which, title in zip(
        axes, (0, -1), ("first record", "end of training"), strict=True
    ):
        moments = []
        for run, label in zip(runs, labels, strict=True):
            records = sorted_records(run.gradient_norms)
            if not records:
                continue
            layout = layer_layout(layer_names(run.gradient_norms))
            layouts.append(layout)
            record = records[which]
            moments.append(f"epoch {record['epoch']}, step {record['step']}")
            _draw_profile(ax, layout, record["norms"], colors[label], label=label)
        ax.set_yscale("log")
        _depth_axis(ax, layouts)
        ax.set_ylabel("gradient L2 norm (log scale)")
        when = moments[0] if len(set(moments)) == 1 else "per model"
        _set_title(ax, f"{title} ({when})" if moments else title)
        ax.grid(alpha=0.3, which="both")
    handles, names = axes[0].get_legend_handles_labels()
    if handles:
        if any(layout.shortcuts for layout in layouts):
            handles.append(_shortcut_handle())
            names.append("shortcut conv (off the main path)")
        # One legend below both panels, so it never hides a line.
        figure.legend(handles, names, loc="outside lower center", ncols=len(names))
    figure.suptitle("Per-layer gradient norm across depth (probe)")
    return figure


def _training_profiles(runs, labels, colors) -> Figure:
    # One column per model, rows: first and last epoch. The training
    # gradients' epoch mean (solid) and max (dashed) beside the probe norms
    # at the first and the final record (dotted), on one log scale.
    with_train = [
        (run, label)
        for run, label in zip(runs, labels, strict=True)
        if train_entries(run.gradient_norms)
    ]
    columns = len(with_train)
    figure = Figure(figsize=(4.2 * columns + 1, 7.4), layout="constrained")
    axes = np.array(figure.subplots(2, columns, sharey=True, squeeze=False))
    for column, (run, label) in enumerate(with_train):
        layout = layer_layout(layer_names(run.gradient_norms))
        entries = train_entries(run.gradient_norms)
        records = sorted_records(run.gradient_norms)
        for row, which in enumerate((0, -1)):
            ax, entry, color = axes[row, column], entries[which], colors[label]
            _draw_profile(ax, layout, entry["mean"], color)
            _draw_profile(ax, layout, entry.get("max") or {}, color, linestyle="--")
            if records:
                probe = records[which]["norms"]
                _draw_profile(ax, layout, probe, color, linestyle=":", alpha=0.7)
            ax.set_yscale("log")
            _depth_axis(ax, [layout])
            ax.grid(alpha=0.3, which="both")
            step = f", {entry['steps']} steps" if entry.get("steps") else ""
            when = "first" if row == 0 else "last"
            _set_title(ax, f"{label}: {when} epoch (epoch {entry['epoch']}{step})")
        axes[0, column].set_ylabel("gradient L2 norm (log scale)")
        axes[1, column].set_ylabel("gradient L2 norm (log scale)")
    handles = [
        Line2D([], [], color="black", label="training gradient, epoch mean"),
        Line2D([], [], color="black", linestyle="--", label="training, epoch max"),
        Line2D(
            [], [], color="black", linestyle=":", label="probe, first / final record"
        ),
    ]
    if any(
        layer_layout(layer_names(r.gradient_norms)).shortcuts for r, _ in with_train
    ):
        handles.append(_shortcut_handle())
    ncols = len(handles) if columns > 2 else 2
    figure.legend(handles=handles, loc="outside lower center", ncols=ncols)
    figure.suptitle("Gradients the optimizer received beside the probe's")
    return figure


def _draw_profile(ax, layout: LayerLayout, norms, color, label=None, **style):
    """The main path as a line, shortcut convolutions as hollow markers."""
    main = [(layout.positions[n], norms.get(n)) for n in layout.main]
    main = [(x, float(v)) for x, v in main if v is not None and v > 0]
    if main:
        xs, ys = zip(*main, strict=True)
        ax.plot(xs, ys, color=color, label=label, marker=".", **style)
    sides = [(layout.positions[n], norms.get(n)) for n in layout.shortcuts]
    sides = [(x, float(v)) for x, v in sides if v is not None and v > 0]
    if sides:
        xs, ys = zip(*sides, strict=True)
        ax.plot(
            xs,
            ys,
            linestyle="none",
            marker=SHORTCUT_MARKER,
            markerfacecolor="none",
            markeredgecolor=color,
            alpha=style.get("alpha", 1.0),
        )


def _set_title(ax, text: str) -> None:
    # At a fixed height: the axes have no tick labels on top, which is all
    # that matplotlib's automatic title height looks for, at every draw
    # (about a tenth of the drawing time).
    ax.set_title(text, y=1.0)


def _shortcut_handle() -> Line2D:
    return Line2D(
        [],
        [],
        linestyle="none",
        marker=SHORTCUT_MARKER,
        markerfacecolor="none",
        markeredgecolor="black",
        label="shortcut conv (off the main path)",
    )


def _depth_axis(ax, layouts: Sequence[LayerLayout]) -> None:
    """x axis of main-path positions, labelled by role where models agree."""
    ax.set_xlabel("main-path layer, by role (input to output)")
    depth = max((len(layout.main) for layout in layouts), default=0)
    if not depth or depth > MAX_TICK_LABELS:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        return
    names = [layout.labels() for layout in layouts]
    ticks = []
    for i in range(depth):
        seen = {labels[i] for labels in names if i < len(labels)}
        ticks.append(seen.pop() if len(seen) == 1 else str(i + 1))
    ax.set_xticks(range(1, depth + 1), ticks, rotation=90, fontsize=7)


def _gradient_heatmaps(runs, labels) -> Figure:
    with_norms = [
        (run, label)
        for run, label in zip(runs, labels, strict=True)
        if sorted_records(run.gradient_norms)
    ]
    panels = max(1, len(with_norms))
    figure = Figure(figsize=(4.2 * panels, 5.4), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, panels))
    if not with_norms:
        _set_title(axes[0], "No gradient norms recorded")
        axes[0].set_axis_off()
    matrices = [_norm_matrix(run.gradient_norms) for run, _ in with_norms]
    norm = _shared_log_norm([matrix for matrix, _, _ in matrices])
    for ax, (_, label), (matrix, rows, columns) in zip(
        axes[: len(with_norms)], with_norms, matrices, strict=True
    ):
        image = ax.imshow(
            np.ma.masked_invalid(matrix),
            aspect="auto",
            origin="lower",
            cmap=matplotlib.colormaps["viridis"],
            norm=norm,
            interpolation="nearest",
            extent=(-0.5, len(columns) - 0.5, 0.5, len(rows) + 0.5),
        )
        ax.set_xticks(range(len(columns)), [str(c) for c in columns])
        if len(rows) <= MAX_TICK_LABELS:
            ax.set_yticks(range(1, len(rows) + 1), rows, fontsize=7)
        else:
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epochs trained")
        gap = "" in rows  # the empty row between main path and shortcuts
        ax.set_ylabel(
            "main-path layer by role" + ("; shortcuts above the gap" if gap else "")
        )
        _set_title(ax, label)
        figure.colorbar(image, ax=ax, label="gradient L2 norm (log scale)")
    figure.suptitle("Gradient norm per layer and epoch (probe)")
    return figure


def _norm_matrix(gradient_norms):
    # Columns: records at epoch boundaries (step 0), i.e. the start of each
    # epoch and, as (epochs, 0), the end of training. Rows: the main path in
    # order, so models sharing it line up row for row, then an empty row and
    # the shortcut convolutions.
    records = [r for r in sorted_records(gradient_norms) if r["step"] == 0]
    records = records or sorted_records(gradient_norms)
    layout = layer_layout(layer_names(gradient_norms))
    rows = list(layout.main)
    labels = layout.labels()
    if layout.shortcuts:
        rows += [None, *layout.shortcuts]
        labels += [""] + [layer_role(name).label for name in layout.shortcuts]
    matrix = np.array(
        [
            [_positive(r["norms"].get(name) if name else None) for r in records]
            for name in rows
        ],
        dtype=float,
    )
    return matrix, labels, [r["epoch"] for r in records]


def _shared_log_norm(matrices) -> LogNorm | None:
    # One colour scale for all panels, so models can be compared by colour.
    values = np.concatenate([m[np.isfinite(m) & (m > 0)] for m in matrices] or [[]])
    return LogNorm(values.min(), values.max()) if values.size else None


def _positive(value) -> float:
    return float(value) if value is not None and value > 0 else math.nan


def _save(figure: Figure, stem: Path, formats: Sequence[str]) -> list[Path]:
    """Write ``figure`` in each format, laid out once whatever the formats.

    Constrained layout costs as much as drawing and would run again for
    every format, with text measured by that format's renderer: it runs
    once, as the PNG draw does it (Agg at ``PNG_DPI``), and every format
    keeps those places. So a file's bytes do not depend on the other
    formats asked for.
    """
    drawn = sorted(formats, key=lambda fmt: fmt != "png")  # the PNG lays out
    if drawn[0] != "png":
        dpi = figure.get_dpi()
        figure.set_dpi(PNG_DPI)
        figure.draw_without_rendering()
        figure.set_dpi(dpi)
        figure.set_layout_engine("none")
    paths = {}
    for fmt in drawn:
        path = paths[fmt] = stem.with_suffix(f".{fmt}")
        # No creation date, and fixed element ids in the SVG, so redrawing
        # the same runs gives byte-identical files.
        with matplotlib.rc_context({"svg.hashsalt": "keras-resnet"}):
            figure.savefig(
                path, dpi=PNG_DPI if fmt == "png" else None, metadata=_NO_DATE[fmt]
            )
        figure.set_layout_engine("none")
    return [paths[fmt] for fmt in formats]

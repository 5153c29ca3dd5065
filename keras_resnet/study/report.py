"""The study's results table and report, computed from saved runs.

``summarize_run`` turns one run into a flat row; ``write_results`` writes
the rows of every run as ``results.csv``, ``results.json`` and a Markdown
``report.md`` that puts the reference study's figures beside ours.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from keras_resnet.study.gradients import (
    GRADIENT_FLOW_KEYS,
    first_last_ratio,
    gradient_flow,
    layer_layout,
    layer_names,
    probe_info,
    sorted_records,
)
from keras_resnet.study.runs import RunRecord

# The reference study (CIFAR-10): test accuracy and trainable parameters.
# Mini-ResNet has no reference figure.
REFERENCE: dict[str, dict[str, float]] = {
    "resnet18": {"test_accuracy": 0.899, "trainable_params": 11.2e6},
    "baseline_cnn": {"test_accuracy": 0.841},
    "resnet18_noskip": {"test_accuracy": 0.860, "trainable_params": 11.0e6},
}

COLUMNS = (
    "model",
    "architecture",
    "test_accuracy",
    "reference_test_accuracy",
    "best_val_accuracy",
    "best_epoch",
    "final_train_loss",
    "trainable_params",
    "reference_trainable_params",
    "flops",
    "epochs",
    "seconds_per_epoch",
    "total_seconds",
    "epochs_to_80pct_best",
    "epochs_to_90pct_best",
    "probe_size",
    *GRADIENT_FLOW_KEYS,
    "completed",
    "run_dir",
)


def epochs_to_fraction(values: Sequence[float], fraction: float) -> int | None:
    """First 1-based epoch whose value reaches ``fraction`` of the best.

    Args:
        values: Per-epoch metric (e.g. validation accuracy); NaN is skipped.
        fraction: In (0, 1].

    Returns:
        The epoch, or None when there is no finite value.

    Raises:
        ValueError: If ``fraction`` is outside (0, 1].
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1]. Received: fraction={fraction}")
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None
    target = fraction * max(finite)
    return next(i for i, v in enumerate(values, start=1) if v >= target)


def gradient_ratios(gradient_norms: dict[str, Any] | None) -> tuple[float, float]:
    """First-layer over classifier gradient norm, at the first and last record.

    The probe-norm ``first_last_ratio`` (see
    ``keras_resnet.study.gradients``); ``gradient_flow`` gives it together
    with the early/late ratio and the training-gradient ratios.

    Returns:
        ``(ratio at the first record, ratio at the last record)``; NaN where
        there are no records or a norm is missing or zero.
    """
    records = sorted_records(gradient_norms)
    if not records:
        return math.nan, math.nan
    layout = layer_layout(layer_names(gradient_norms))
    return (
        first_last_ratio(records[0]["norms"], layout),
        first_last_ratio(records[-1]["norms"], layout),
    )


def summarize_run(run: RunRecord) -> dict[str, Any]:
    """One flat row of the results table for ``run`` (keys: ``COLUMNS``)."""
    metrics = run.metrics
    val_accuracy = run.series("val_accuracy")
    best_val, best_epoch = _best(val_accuracy)
    losses = run.series("loss")
    # A variant (another label, or builder options) is not the model the
    # reference study trained.
    plain = run.label == run.model == run.architecture
    reference = REFERENCE.get(run.model, {}) if plain else {}
    row = {
        "model": run.label,
        "architecture": run.architecture,
        "test_accuracy": metrics.get("test_accuracy"),
        "reference_test_accuracy": reference.get("test_accuracy"),
        "best_val_accuracy": metrics.get("best_val_accuracy", best_val),
        "best_epoch": metrics.get("best_epoch", best_epoch),
        "final_train_loss": metrics.get(
            "final_train_loss", losses[-1] if losses else None
        ),
        "trainable_params": metrics.get("trainable_params"),
        "reference_trainable_params": reference.get("trainable_params"),
        "flops": metrics.get("flops"),
        "epochs": metrics.get("epochs", len(run.epochs)),
        "seconds_per_epoch": metrics.get("seconds_per_epoch"),
        "total_seconds": metrics.get("total_seconds"),
        "epochs_to_80pct_best": epochs_to_fraction(val_accuracy, 0.8),
        "epochs_to_90pct_best": epochs_to_fraction(val_accuracy, 0.9),
        "probe_size": probe_info(run.gradient_norms).get("size"),
        **gradient_flow(run.gradient_norms),
        "completed": run.completed,
        "run_dir": str(run.path),
    }
    return {key: _none_if_nan(value) for key, value in row.items()}


def write_results(
    runs: Sequence[RunRecord],
    output_dir: str | os.PathLike,
    *,
    figures: Sequence[str | os.PathLike] = (),
) -> list[dict[str, Any]]:
    """Write ``results.csv``, ``results.json`` and ``report.md``.

    Args:
        runs: The runs to report, in table order.
        output_dir: Folder for the three files (created if needed).
        figures: Figure files to show in the report (one file per figure: PNG,
            else SVG embedded; a PDF linked).

    Returns:
        The result rows (one dict per run, keys ``COLUMNS``).
    """
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    rows = [summarize_run(run) for run in runs]
    with open(output / "results.csv", "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(
            {k: "" if v is None else v for k, v in r.items()} for r in rows
        )
    with open(output / "results.json", "w", encoding="utf-8") as stream:
        json.dump({"reference": REFERENCE, "results": rows}, stream, indent=2)
    report = render_report(runs, rows, figures=figures, relative_to=output)
    (output / "report.md").write_text(report, encoding="utf-8")
    return rows


def render_report(
    runs: Sequence[RunRecord],
    rows: Sequence[dict[str, Any]],
    *,
    figures: Sequence[str | os.PathLike] = (),
    relative_to: str | os.PathLike | None = None,
) -> str:
    """The Markdown report for ``rows`` (see ``write_results``)."""
    parts = [
        "# Residual learning study: results",
        _setup_section(runs),
        _results_table(rows),
        _reference_table(rows),
        _gradient_table(runs, rows),
        _figures_section(figures, relative_to),
    ]
    return "\n\n".join(part for part in parts if part) + "\n"


def _setup_section(runs: Sequence[RunRecord]) -> str:
    if not runs:
        return "No runs."
    config, dataset = runs[0].config, runs[0].dataset
    lines = ["## Setup", ""]
    if dataset:
        sizes = ", ".join(
            f"{split} {dataset[f'{split}_size']:,}"
            for split in ("train", "validation", "test")
            if dataset.get(f"{split}_size") is not None
        )
        lines.append(f"- Dataset: `{dataset.get('name', '?')}` ({sizes} images)")
    keys = (
        "epochs",
        "batch_size",
        "optimizer",
        "learning_rate",
        "schedule",
        "weight_decay",
        "augment",
        "width_multiplier",
        "max_train_examples",
        "seed",
        "precision",
    )
    differing = [
        key for key in keys if len({repr(run.config.get(key)) for run in runs}) > 1
    ]
    recipe = ", ".join(
        f"{key}={config[key]}" for key in keys if key in config and key not in differing
    )
    if recipe:
        lines.append(f"- Recipe (same for every model): {recipe}")
    if differing:
        lines.append(f"- Differs between the runs: {', '.join(differing)}")
    if any(run.label != run.architecture for run in runs):
        models = "; ".join(f"{run.label} = `{run.architecture}`" for run in runs)
        lines.append(f"- Models: {models}")
    incomplete = [run.label for run in runs if not run.completed]
    if incomplete:
        lines.append(f"- Not completed: {', '.join(incomplete)}")
    return "\n".join(lines)


def _results_table(rows: Sequence[dict[str, Any]]) -> str:
    header = (
        "| model | test acc | best val acc (epoch) | final train loss | params "
        "| GFLOPs/image | s/epoch | total s | epochs to 80% / 90% of best |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [
        "| {model} | {test} | {val} ({epoch}) | {loss} | {params} | {flops} "
        "| {spe} | {total} | {e80} / {e90} |".format(
            model=r["model"],
            test=_pct(r["test_accuracy"]),
            val=_pct(r["best_val_accuracy"]),
            epoch=_text(r["best_epoch"]),
            loss=_num(r["final_train_loss"], ".3f"),
            params=_count(r["trainable_params"]),
            flops=_num(_scale(r["flops"], 1e-9), ".3f"),
            spe=_num(r["seconds_per_epoch"], ".1f"),
            total=_num(r["total_seconds"], ".0f"),
            e80=_text(r["epochs_to_80pct_best"]),
            e90=_text(r["epochs_to_90pct_best"]),
        )
        for r in rows
    ]
    return "\n".join(["## Results", "", header, *lines])


def _reference_table(rows: Sequence[dict[str, Any]]) -> str:
    if all(r["reference_test_accuracy"] is None for r in rows):
        return ""  # none of these models is one the reference study trained
    lines = [
        "## Against the reference study",
        "",
        "The reference study trained on the full CIFAR-10 at full width; "
        "compare the ordering of the models more than the absolute numbers "
        "when this run used fewer examples, reduced width or fewer epochs.",
        "",
        "| model | test acc (ours) | test acc (reference) | difference "
        "| params (ours) | params (reference) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ours, ref = r["test_accuracy"], r["reference_test_accuracy"]
        diff = None if ours is None or ref is None else 100 * (ours - ref)
        lines.append(
            f"| {r['model']} | {_pct(ours)} | {_pct(ref)} "
            f"| {_num(diff, '+.1f')}{' pt' if diff is not None else ''} "
            f"| {_count(r['trainable_params'])} "
            f"| {_count(r['reference_trainable_params'])} |"
        )
    return "\n".join(lines)


def _gradient_table(runs: Sequence[RunRecord], rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "## Gradient flow",
        "",
        "Per-layer gradient L2 norms, as ratios (computed by "
        "`keras_resnet.study.gradients.gradient_flow`): *first/last* is the "
        "first convolution's norm over the classifier's; *early/late* is the "
        "mean norm of the first third of the main-path convolutions over the "
        "mean of the last third (shortcut convolutions and the classifier "
        "excluded). Near 1, gradients reach the early layers; far below 1, "
        "they vanish on the way down.",
        "",
        f"- Probe norms: {_probe_text(runs)}",
    ]
    with_train = any(
        r[key] is not None
        for r in rows
        for key in GRADIENT_FLOW_KEYS
        if "_train_" in key
    )
    if with_train:
        lines.append(
            "- Training norms: per-layer mean, over an epoch's steps, of the "
            "norm of the gradient the optimizer received; in the first and "
            "the last epoch."
        )
    header = (
        "| model | probe first/last: first record | final record "
        "| probe early/late: first record | final record |"
    )
    rule = "|---|---:|---:|---:|---:|"
    keys = [key for key in GRADIENT_FLOW_KEYS if "_probe_" in key]
    if with_train:
        header += (
            " train first/last: first epoch | final epoch "
            "| train early/late: first epoch | final epoch |"
        )
        rule += "---:|---:|---:|---:|"
        keys = list(GRADIENT_FLOW_KEYS)
    lines += ["", header, rule]
    lines += [
        f"| {r['model']} | " + " | ".join(_num(r[key], ".3g") for key in keys) + " |"
        for r in rows
    ]
    return "\n".join(lines)


def _probe_text(runs: Sequence[RunRecord]) -> str:
    """When the probe records were taken and what the probe holds."""
    moments = {
        (_moment(records[0]), _moment(records[-1]))
        for records in (sorted_records(run.gradient_norms) for run in runs)
        if records
    }
    if not moments:
        return "none recorded."
    if len(moments) == 1:
        first, final = next(iter(moments))
        before = " (before any update)" if first == "epoch 0, step 0" else ""
        text = f"first record at {first}{before}, final record at {final}"
    else:
        text = "first and final records differ between the runs"
    probes = [probe_info(run.gradient_norms) for run in runs]
    if all(p == probes[0] for p in probes) and probes[0].get("size"):
        info = probes[0]
        text += f"; probe of {info['size']} training images"
        if info.get("seed") is not None:
            text += f", seed {info['seed']}"
        counts = info.get("class_counts")
        if counts:
            spread = {min(counts), max(counts)}
            text += f", {' to '.join(map(str, sorted(spread)))} per class"
    elif not any(probes):
        text += "; probe not described (a file written before probe descriptions)"
    return text + "."


def _moment(record: dict[str, Any]) -> str:
    return f"epoch {record['epoch']}, step {record['step']}"


# Which file of a figure the report shows: the first format found here.
_FIGURE_PREFERENCE = {".png": 0, ".svg": 1, ".pdf": 2}


def _figures_section(figures, relative_to) -> str:
    """Each figure once, in order: its PNG, else its SVG, embedded; a figure
    drawn only as PDF is linked."""
    paths = [Path(f) for f in figures]
    if not paths:
        return ""
    lines = ["## Figures", ""]
    for stem in dict.fromkeys(path.stem for path in paths):
        path = min(
            (p for p in paths if p.stem == stem),
            key=lambda p: _FIGURE_PREFERENCE.get(p.suffix, len(_FIGURE_PREFERENCE)),
        )
        target = os.path.relpath(path, relative_to) if relative_to else str(path)
        image = "!" if path.suffix in (".png", ".svg") else ""
        lines.append(f"{image}[{stem}]({Path(target).as_posix()})")
        lines.append("")
    return "\n".join(lines).rstrip()


def _best(values: Sequence[float]) -> tuple[float | None, int | None]:
    finite = [(v, i) for i, v in enumerate(values, start=1) if math.isfinite(v)]
    if not finite:
        return None, None
    best, epoch = max(finite, key=lambda pair: (pair[0], -pair[1]))
    return best, epoch


def _none_if_nan(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _scale(value, factor):
    return None if value is None else value * factor


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _count(value) -> str:
    if value is None:
        return "-"
    return f"{value / 1e6:.2f}M" if value >= 1e5 else f"{int(value):,}"


def _text(value) -> str:
    return "-" if value is None else str(value)

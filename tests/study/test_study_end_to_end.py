"""compare() and plot through the real training engine, on tiny data."""

import csv
import json
import pathlib
import subprocess
import sys

import pytest
import tiny
from study_helpers import LIGHT_FILES, check_figure_files

from keras_resnet.study import compare, export_light_runs, plot_runs

REPO = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

MODELS = ["resnet18", "resnet18_noskip"]


def tiny_config(**changes):
    """The shared tiny run (tests/tiny.py) with compare's models at 1/16 width."""
    values = dict(
        model=None,
        model_options=None,
        width_multiplier=0.0625,
        max_train_examples=200,
        max_test_examples=64,
        validation_split=0.2,
    )
    return tiny.tiny_config(**{**values, **changes})


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    return folder, compare(MODELS, tiny_config(), output_dir=folder)


def test_compare_writes_runs_report_csv_and_figures(study):
    folder, results = study
    assert results.trained == MODELS
    with open(folder / "results.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [r["model"] for r in rows] == MODELS
    for row, run in zip(rows, results.runs, strict=True):
        assert 0.0 <= float(row["test_accuracy"]) <= 1.0
        assert int(row["epochs"]) == 2 and row["completed"] == "True"
        assert int(row["trainable_params"]) == run.metrics["trainable_params"] > 0
        assert float(row["grad_first_last_probe_first_record"]) > 0
        assert float(row["grad_early_late_probe_final_record"]) > 0
        assert row["reference_test_accuracy"] in ("0.899", "0.86")
    saved = json.loads((folder / "results.json").read_text())
    assert [r["model"] for r in saved["results"]] == MODELS
    report = (folder / "report.md").read_text()
    assert "| resnet18_noskip | " in report and "89.9%" in report
    training = any(run.gradient_norms.get("train") for run in results.runs)
    check_figure_files(results.figures, training=training)


def test_plot_regenerates_the_same_figures_from_the_runs(study, tmp_path):
    folder, results = study
    files = plot_runs([folder], tmp_path)
    assert [f.name for f in files] == [f.name for f in results.figures]
    for new, old in zip(files, results.figures, strict=True):
        assert new.read_bytes() == old.read_bytes(), new.name


def test_compare_again_reuses_completed_runs(study):
    folder, _ = study
    metrics = [folder / "runs" / m / "metrics.json" for m in MODELS]
    before = [p.stat().st_mtime_ns for p in metrics]
    again = compare(MODELS, tiny_config(), output_dir=folder)
    assert again.trained == [] and again.reused == MODELS
    assert [p.stat().st_mtime_ns for p in metrics] == before


def test_plot_redraws_every_figure_from_light_files_alone(study, tmp_path):
    # What a fresh clone of the docs holds: the runs' light files, no
    # weights, backups or logs; `keras-resnet plot` redraws every figure
    # from them, byte for byte, in a new process.
    folder, results = study
    written = export_light_runs(folder, tmp_path / "docs")
    copied = {p.relative_to(tmp_path / "docs").as_posix() for p in written}
    expected = {f"runs/{m}/{name}" for m in MODELS for name in LIGHT_FILES}
    assert copied == expected
    on_disk = {
        p.relative_to(tmp_path / "docs").as_posix()
        for p in (tmp_path / "docs").rglob("*")
        if p.is_file()
    }
    assert on_disk == expected  # no .keras, backup/ or tensorboard/
    result = subprocess.run(
        [sys.executable, str(REPO / "cli.py"), "plot", str(tmp_path / "docs")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = tmp_path / "docs" / "figures"
    assert result.stdout.split() == [str(figures / f.name) for f in results.figures]
    for old in results.figures:
        assert (figures / old.name).read_bytes() == old.read_bytes(), old.name

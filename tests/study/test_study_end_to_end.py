"""compare() and plot through the real training engine, on tiny data."""

import csv
import json

import pytest
from study_helpers import check_figure_files

from keras_resnet.study import compare, plot_runs
from keras_resnet.train.config import TrainConfig

pytestmark = pytest.mark.slow

MODELS = ["resnet18", "resnet18_noskip"]


def tiny_config(**changes):
    values = dict(
        dataset="synthetic",
        epochs=2,
        batch_size=32,
        width_multiplier=0.0625,
        max_train_examples=200,
        max_test_examples=64,
        validation_split=0.2,
        grad_norm_steps=[0, 2],
        jit_compile=False,
        verbose=0,
    )
    return TrainConfig(**{**values, **changes})


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
        assert float(row["grad_ratio_first_record"]) > 0
        assert row["reference_test_accuracy"] in ("0.899", "0.86")
    saved = json.loads((folder / "results.json").read_text())
    assert [r["model"] for r in saved["results"]] == MODELS
    report = (folder / "report.md").read_text()
    assert "| resnet18_noskip | " in report and "89.9%" in report
    check_figure_files(results.figures)


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

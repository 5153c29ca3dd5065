import csv
import json
import math

import pytest
from study_helpers import LAYERS, write_fake_run

from keras_resnet.errors import RunDirectoryError
from keras_resnet.study import (
    REFERENCE,
    epochs_to_fraction,
    find_runs,
    gradient_ratios,
    load_run,
    summarize_run,
    write_results,
)


def test_epochs_to_fraction_counts_from_one_and_skips_nan():
    values = [0.1, math.nan, 0.5, 0.8, 1.0, 0.9]
    assert epochs_to_fraction(values, 0.8) == 4
    assert epochs_to_fraction(values, 0.9) == 5
    assert epochs_to_fraction(values, 0.05) == 1
    assert epochs_to_fraction([math.nan], 0.8) is None


@pytest.mark.parametrize("fraction", [0.0, 1.5, -0.2])
def test_epochs_to_fraction_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match=r"Received: fraction="):
        epochs_to_fraction([1.0], fraction)


def test_gradient_ratios_first_over_last_layer_at_first_and_last_record(tmp_path):
    run = load_run(write_fake_run(tmp_path / "r", "resnet18_noskip", epochs=3))
    first, final = gradient_ratios(run.gradient_norms)
    # Fake norms: layer d is 0.01 ** (3 - d) * (1 + epoch); the ratio is 1e-6.
    assert first == pytest.approx(1e-6)
    assert final == pytest.approx(1e-6)
    assert all(math.isnan(r) for r in gradient_ratios(None))
    assert all(math.isnan(r) for r in gradient_ratios({"layers": [], "records": []}))


def test_summarize_run_row(tmp_path):
    run = load_run(write_fake_run(tmp_path / "r", "resnet18", epochs=4))
    row = summarize_run(run)
    assert row["model"] == "resnet18"
    assert row["reference_test_accuracy"] == 0.899
    assert row["reference_trainable_params"] == 11.2e6
    assert row["test_accuracy"] == pytest.approx(run.metrics["test_accuracy"])
    assert row["best_epoch"] == run.metrics["best_epoch"]
    assert row["epochs"] == 4
    assert row["grad_ratio_first_record"] == pytest.approx(0.5**3)
    assert row["completed"] is True
    expected_80 = epochs_to_fraction(run.series("val_accuracy"), 0.8)
    assert row["epochs_to_80pct_best"] == expected_80


def test_mini_resnet_has_no_reference(tmp_path):
    row = summarize_run(load_run(write_fake_run(tmp_path / "m", "mini_resnet")))
    assert row["reference_test_accuracy"] is None
    assert "mini_resnet" not in REFERENCE


def test_write_results_files(tmp_path):
    runs = [
        load_run(write_fake_run(tmp_path / "runs" / m, m, epochs=3))
        for m in ("baseline_cnn", "resnet18", "resnet18_noskip")
    ]
    rows = write_results(runs, tmp_path / "out")
    with open(tmp_path / "out" / "results.csv", newline="") as stream:
        table = list(csv.DictReader(stream))
    assert [r["model"] for r in table] == [
        "baseline_cnn",
        "resnet18",
        "resnet18_noskip",
    ]
    assert float(table[1]["test_accuracy"]) == pytest.approx(rows[1]["test_accuracy"])
    assert table[0]["reference_test_accuracy"] == "0.841"
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["results"] == rows
    assert saved["reference"]["resnet18_noskip"]["test_accuracy"] == 0.86
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| resnet18 | " in report
    assert "89.9%" in report and "84.1%" in report and "86.0%" in report
    assert "Gradient flow" in report
    assert "Dataset: `synthetic` (train 180, validation 20, test 50 images)" in report


def test_load_run_errors(tmp_path):
    with pytest.raises(RunDirectoryError, match="not found"):
        load_run(tmp_path / "missing")
    with pytest.raises(RunDirectoryError, match="history.json"):
        load_run(tmp_path)
    run_dir = write_fake_run(tmp_path / "bad", "resnet18")
    (run_dir / "metrics.json").write_text("{not json")
    with pytest.raises(RunDirectoryError, match="metrics.json"):
        load_run(run_dir)


def test_find_runs_accepts_run_dirs_and_study_folders(tmp_path):
    for model in ("resnet18", "baseline_cnn"):
        write_fake_run(tmp_path / "study" / "runs" / model, model)
    single = write_fake_run(tmp_path / "single", "mini_resnet")
    runs = find_runs([tmp_path / "study", single])
    assert [r.model for r in runs] == ["baseline_cnn", "resnet18", "mini_resnet"]
    assert runs[0].gradient_norms["layers"] == LAYERS
    with pytest.raises(RunDirectoryError, match="No run directory"):
        find_runs([tmp_path / "single" / "nothing"])


def test_report_names_recipe_keys_that_differ_between_runs(tmp_path):
    same = load_run(write_fake_run(tmp_path / "a", "resnet18"))
    other_dir = write_fake_run(tmp_path / "b", "baseline_cnn")
    (other_dir / "config.yaml").write_text("model: baseline_cnn\nepochs: 3\nseed: 1\n")
    write_results([same, load_run(other_dir)], tmp_path / "out")
    report = (tmp_path / "out" / "report.md").read_text()
    assert "- Recipe (same for every model): epochs=3\n" in report
    assert "- Differs between the runs: seed" in report

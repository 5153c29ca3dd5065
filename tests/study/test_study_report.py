import csv
import json
import math

import pytest
from study_helpers import LAYERS, LIGHT_FILES, RESNET_LAYERS, write_fake_run

from keras_resnet.errors import RunDirectoryError
from keras_resnet.study import (
    GRADIENT_FLOW_KEYS,
    REFERENCE,
    epochs_to_fraction,
    export_light_runs,
    find_runs,
    gradient_flow,
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
    assert row["grad_first_last_probe_first_record"] == pytest.approx(0.5**3)
    assert row["grad_first_last_train_first_epoch"] is None  # an old-schema file
    assert row["probe_size"] is None
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


def test_results_and_report_hold_the_gradient_flow_table(tmp_path):
    runs = [
        load_run(
            write_fake_run(
                tmp_path / "runs" / m, m, epochs=3, layers=RESNET_LAYERS, train=True
            )
        )
        for m in ("resnet18", "resnet18_noskip")
    ]
    rows = write_results(runs, tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "results.json").read_text())["results"]
    with open(tmp_path / "out" / "results.csv", newline="") as stream:
        table = list(csv.DictReader(stream))
    for run, row, json_row, csv_row in zip(runs, rows, saved, table, strict=True):
        flow = gradient_flow(run.gradient_norms)
        assert all(math.isfinite(flow[key]) for key in GRADIENT_FLOW_KEYS)
        for key in GRADIENT_FLOW_KEYS:
            assert row[key] == json_row[key] == pytest.approx(flow[key])
            assert float(csv_row[key]) == pytest.approx(flow[key])
        assert json_row["probe_size"] == 40 and csv_row["probe_size"] == "40"
    # Fake norms: decay 0.5 (resnet18) per layer, seven layers, the first
    # record at epoch 0 (scale 1): first/last = 0.5 ** 6; early/late over
    # one layer each (5 convolutions): stem vs stage2_block1_conv2.
    assert rows[0]["grad_first_last_probe_first_record"] == pytest.approx(0.5**6)
    assert rows[0]["grad_early_late_probe_first_record"] == pytest.approx(0.5**5)
    assert rows[1]["grad_first_last_train_final_epoch"] == pytest.approx(0.01**6)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| train first/last: first epoch |" in report
    assert "first record at epoch 0, step 0 (before any update)" in report
    assert "final record at epoch 3, step 0" in report
    assert "probe of 40 training images, seed 0, 4 per class" in report
    section = report.split("## Gradient flow")[1].splitlines()
    line = next(x for x in section if x.startswith("| resnet18 | "))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1:] == [format(rows[0][k], ".3g") for k in GRADIENT_FLOW_KEYS]


def test_report_of_old_files_has_probe_columns_only(tmp_path):
    run = load_run(write_fake_run(tmp_path / "r", "resnet18"))
    write_results([run], tmp_path / "out")
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| probe first/last: first record |" in report
    assert "train first/last" not in report
    assert "probe not described" in report
    header = (tmp_path / "out" / "results.csv").read_text().splitlines()[0]
    assert all(key in header.split(",") for key in GRADIENT_FLOW_KEYS)


def test_export_light_runs_copies_only_light_files_and_refuses_itself(tmp_path):
    study = tmp_path / "study"
    run_dir = write_fake_run(study / "runs" / "resnet18", "resnet18")
    (run_dir / "model.keras").write_bytes(b"weights")
    (run_dir / "backup").mkdir()
    (run_dir / "tensorboard").mkdir()
    docs = tmp_path / "docs"
    (docs / "runs" / "resnet18").mkdir(parents=True)
    (docs / "runs" / "resnet18" / "notes.txt").write_text("kept")
    (docs / "runs" / "resnet18" / "metrics.json").write_text("{}")  # replaced
    written = export_light_runs(study, docs)
    assert sorted(p.name for p in written) == sorted(LIGHT_FILES)
    there = docs / "runs" / "resnet18"
    assert sorted(p.name for p in there.iterdir()) == sorted(
        {*LIGHT_FILES, "notes.txt"}
    )
    for name in LIGHT_FILES:
        assert (there / name).read_bytes() == (run_dir / name).read_bytes()
    with pytest.raises(ValueError, match="Received: destination="):
        export_light_runs(study, study)
    with pytest.raises(RunDirectoryError, match="No run directory"):
        export_light_runs(tmp_path / "empty", docs)

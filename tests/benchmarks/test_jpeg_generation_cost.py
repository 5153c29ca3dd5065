"""benchmarks/jpeg_generation_cost.py: one recipe on the data and on the data
re-encoded once more, train and test images alike."""

import json
import subprocess

import numpy as np
import pytest
from benchmark_scripts import load_benchmark_module


@pytest.fixture(scope="module")
def script():
    return load_benchmark_module("jpeg_generation_cost")


@pytest.fixture(scope="module")
def prepared(script, tmp_path_factory):
    work = tmp_path_factory.mktemp("generation")
    return work, script.prepare("synthetic", 40, work)


def test_both_variants_hold_the_same_labels_and_reencoded_pixels(script, prepared):
    work, data = prepared
    given = np.load(work / "as_given.npz")
    again = np.load(work / "reencoded.npz")
    for key in ("y_train", "y_test", "class_names"):
        np.testing.assert_array_equal(given[key], again[key])
    for key in ("x_train", "x_test"):
        assert given[key].shape == again[key].shape and again[key].dtype == np.uint8
        expected = script.reencode(given[key][:4], 40)
        np.testing.assert_array_equal(again[key][:4], expected)
    assert data["quality"] == 40
    assert data["train_images"] == len(given["y_train"])
    assert data["test_images"] == len(given["y_test"])
    psnr = script.psnr(given["x_test"], again["x_test"])
    assert data["mean_psnr_db"]["test"] == pytest.approx(psnr.mean())
    assert 10 < data["mean_psnr_db"]["test"] < 45
    assert json.loads((work / "data.json").read_text()) == data


def test_prepared_data_is_reused_for_the_same_dataset_and_quality(script, prepared):
    work, data = prepared
    stamp = (work / "reencoded.npz").stat().st_mtime_ns
    assert script.prepare("synthetic", 40, work) == data
    assert (work / "reencoded.npz").stat().st_mtime_ns == stamp


def test_a_run_is_reused_when_finished_and_resumed_when_not(
    script, tmp_path, monkeypatch
):
    commands = []

    def fake_fit(command, check):
        commands.append(command)
        run_dir = tmp_path / "run"
        run_dir.mkdir(exist_ok=True)
        (run_dir / "config.yaml").write_text("model: mini_resnet\n")
        metrics = {"completed": len(commands) == 2, "test_accuracy": 0.5}
        (run_dir / "metrics.json").write_text(json.dumps(metrics))

    monkeypatch.setattr(subprocess, "run", fake_fit)
    config, data, run_dir = script.CONFIG, tmp_path / "a.npz", tmp_path / "run"
    script.fit(config, data, run_dir, ["--epochs=3"])
    assert commands[0][2:] == [
        "fit",
        "--config",
        str(config),
        f"--dataset={data}",
        f"--output-dir={run_dir}",
        "--grad-norm-every=0",
        "--epochs=3",
    ]
    # Interrupted (no completed metrics): the next call continues the run.
    assert script.fit(config, data, run_dir, ["--epochs=3"])["completed"]
    assert commands[1][-1] == "--resume"
    # Finished: reused, nothing runs.
    assert script.fit(config, data, run_dir, ["--epochs=3"])["test_accuracy"] == 0.5
    assert len(commands) == 2


def test_table_reads_the_change_against_the_data_as_given(script):
    rows = [
        {"variant": "as_given", "mean_psnr_db": None, "test_accuracy": 0.9},
        {"variant": "reencoded", "mean_psnr_db": 30.04, "test_accuracy": 0.87},
    ]
    for row in rows:
        row["final_train_loss"] = 0.1
    lines = script.table(rows).splitlines()
    assert "| as_given " in lines[2] and "| +0.00 " in lines[2]
    assert "| 30.0 " in lines[3] and "| 87.00 " in lines[3] and "| -3.00 " in lines[3]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quality", "96"], "--quality must be between 1 and 95. Received: 96"),
        (["--config", "nowhere.yaml"], "--config nowhere.yaml is not a file"),
    ],
)
def test_bad_arguments_are_refused(script, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        script.main(["--dataset", "synthetic", "--work", str(tmp_path), *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err

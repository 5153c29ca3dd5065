"""The throughput harness: same network everywhere, sane numbers, clean errors."""

import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest

SCRIPT = (
    pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "train_throughput.py"
)


def test_plain_keras_resnet18_matches_ours_and_the_reference_count(common):
    import keras_resnet
    from keras_resnet.models import count_trainable_params

    plain = common.build_plain_keras_resnet18()
    ours = keras_resnet.build_model("resnet18")
    assert count_trainable_params(plain) == common.RESNET18_PARAMS
    assert count_trainable_params(ours) == common.RESNET18_PARAMS
    conv = [layer for layer in plain.layers if layer.__class__.__name__ == "Conv2D"]
    ours_conv = [layer for layer in ours.layers if layer.__class__.__name__ == "Conv2D"]
    assert [c.kernel.shape for c in conv] == [c.kernel.shape for c in ours_conv]


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="torch not installed"
)
def test_torch_resnet18_has_the_same_parameter_count(common):
    assert common.count_torch_params(common.build_torch_resnet18()) == (
        common.RESNET18_PARAMS
    )


def test_time_windows_counts_steps_and_excludes_warmup(common):
    calls = []
    timing = common.time_windows(
        lambda: calls.append(sum(range(20_000))),
        images_per_step=4,
        steps=3,
        windows=2,
        warmup=5,
    )
    assert len(calls) == 5 + 3 * 2
    assert len(timing["windows"]) == 2
    assert timing["min"] <= timing["images_per_s"] <= timing["max"]
    assert timing["min"] > 0 and timing["images_per_cpu_s"] > 0


def test_format_table_aligns_columns(common):
    text = common.format_table(["a", "bb"], [[1, 22], [333, 4]])
    lines = text.splitlines()
    assert lines[0] == "| a   | bb |"
    assert lines[1] == "|-----|----|"
    assert lines[3] == "| 333 | 4  |"


def test_parameter_mismatch_is_an_error(throughput):
    rows = [
        {"impl": "ours", "backend": "tensorflow", "params": 10},
        {"impl": "plain", "backend": "tensorflow", "params": 11},
    ]
    with pytest.raises(SystemExit, match="parameter counts differ"):
        throughput.check_params(rows)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--batch-size", "0"], "Received: batch_size=0"),
        (["--impls", "ours,caffe"], "Received: impls='caffe'"),
        (["--backends", "theano"], "Received: backends='theano'"),
    ],
)
def test_bad_arguments_exit_2(argv, message):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *argv], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.slow
def test_quick_run_times_ours_and_plain(throughput, common, tmp_path, monkeypatch):
    # The driver in this process, each worker in this process too (Keras is
    # loaded already); test_worker_process_reports_json runs a real worker.
    workers = []

    def run_worker_here(command, env):
        workers.append((command[3], env["KERAS_BACKEND"]))
        return throughput.keras_worker(throughput.parse_args(command[2:]))

    monkeypatch.setattr(common, "run_json_child", run_worker_here)
    out = tmp_path / "results.json"
    argv = ["--quick", "--impls", "ours,plain", "--json", str(out)]
    assert throughput.main(argv) == 0
    assert workers == [("ours", "tensorflow"), ("plain", "tensorflow")]
    report = json.loads(out.read_text())
    rows = report["results"]
    assert [(r["impl"], r["backend"]) for r in rows] == [
        ("ours", "tensorflow"),
        ("plain", "tensorflow"),
    ]
    assert rows[0]["params"] == rows[1]["params"] == 176_402
    assert all(r["images_per_s"] > 0 and len(r["windows"]) == 1 for r in rows)
    assert all(r["images_per_cpu_s"] > 0 for r in rows)
    assert report["settings"]["batch_size"] == 8


@pytest.mark.slow
def test_worker_process_reports_json_and_the_driver_prints_a_table(tmp_path):
    out = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--impls", "ours", "--json", str(out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (row,) = json.loads(out.read_text())["results"]
    assert (row["impl"], row["backend"], row["params"]) == (
        "ours",
        "tensorflow",
        176_402,
    )
    assert row["images_per_s"] > 0 and "keras" in row["framework"]
    assert "| ours " in result.stdout

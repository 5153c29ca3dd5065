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


def test_driver_starts_one_worker_per_implementation(throughput, common, monkeypatch):
    # The driver's plumbing, with stand-in workers: each (impl, backend) gets
    # its own command and KERAS_BACKEND; the real workers run below.
    workers = []

    def fake_worker(command, env):
        workers.append((command[3], env["KERAS_BACKEND"], command[5]))
        return {"params": 5, "images_per_s": 2.0, "min": 1.0, "max": 3.0}

    monkeypatch.setattr(common, "run_json_child", fake_worker)
    args = throughput.parse_args(["--quick", "--impls", "ours,plain"])
    rows = throughput.run_all(args)
    assert workers == [
        ("ours", "tensorflow", "tensorflow"),
        ("plain", "tensorflow", "tensorflow"),
    ]
    assert [(r["impl"], r["backend"], r["params"]) for r in rows] == [
        ("ours", "tensorflow", 5),
        ("plain", "tensorflow", 5),
    ]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """``train_throughput.py --quick --impls ours,plain`` run as a script.

    The driver and each of its two workers are real processes; returns
    ``(completed process, the --json report)``.
    """
    out = tmp_path_factory.mktemp("throughput") / "results.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--impls", "ours,plain"]
        + ["--json", str(out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result, json.loads(out.read_text())


@pytest.mark.slow
def test_quick_run_times_ours_and_plain(quick_run):
    _, report = quick_run
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
def test_worker_process_reports_json_and_the_driver_prints_a_table(quick_run):
    result, report = quick_run
    for row in report["results"]:
        assert "keras" in row["framework"] and "tensorflow" in row["framework"]
    assert "| ours " in result.stdout and "| plain " in result.stdout

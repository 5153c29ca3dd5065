"""train_throughput.py --sweep: models x batch sizes x implementations in rounds.

The driver's plumbing (rotation, window plans, budget, failures, ratios) runs
in-process with stand-in workers; one real ``--sweep --quick`` run checks the
workers, the JSON file and the table. Parts that need PyTorch run only where
an interpreter with torch is found (``TORCH_PYTHON`` or this one).
"""

import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

SCRIPT = (
    pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "train_throughput.py"
)
FIVE = ["ours", "plain", "torch-contiguous", "torch-channels-last", "torch-compile"]
# Stand-in images/s: channels_last is the best PyTorch setting.
RATES = {
    "ours": 100.0,
    "plain": 80.0,
    "torch-contiguous": 50.0,
    "torch-channels-last": 125.0,
    "torch-compile": 60.0,
}


@pytest.fixture(scope="module")
def torch_python(common):
    python = common.python_with(
        "torch", [os.environ.get("TORCH_PYTHON"), sys.executable]
    )
    if python is None:
        pytest.skip("no interpreter with torch (set TORCH_PYTHON)")
    return python


@pytest.fixture
def fake_workers(throughput, common, monkeypatch):
    """Stand-in workers: record (impl-ish command, env) and answer RATES."""
    calls = []

    def fake(command, env, timeout=None):
        options = dict(zip(command[2::2], command[3::2], strict=False))
        calls.append({"command": command, "env": env, "options": options})
        impl = _impl_of(command)
        if impl == "broken":
            raise RuntimeError("worker failed (exit 1):\nboom")
        return {
            "params": {"resnet20": 272_474, "resnet18": 11_173_962}[options["--model"]],
            "framework": impl,
            "images_per_s": RATES[impl],
            "min": 1.0,
            "max": 2.0,
            "windows": [1.0],
            "images_per_cpu_s": 1.0,
        }

    monkeypatch.setattr(common, "run_json_child", fake)
    return calls


def _impl_of(command):
    """The sweep's implementation name back from a worker command line."""
    if command[3] != "torch":
        return command[3]
    if command[0] == "/fake/broken":
        return "broken"
    layout = "channels-last" if "--channels-last" in command else "contiguous"
    return "torch-compile" if "--torch-compile" in command else f"torch-{layout}"


def test_sweep_defaults_are_the_issue_grid(throughput):
    args = throughput.parse_args(["--sweep"])
    assert args.models == ["resnet20", "resnet56", "resnet18"]
    assert args.batch_sizes == [128, 512]
    assert args.impls == FIVE
    assert args.rounds == 3 and args.onednn == "on"
    assert args.width_multiplier == 1.0
    # The one-network mode keeps its defaults.
    single = throughput.parse_args([])
    assert (single.steps, single.windows, single.warmup) == (3, 3, 2)
    assert single.impls == ["ours", "plain", "torch"] and single.onednn == "default"


def test_window_plan_gives_big_models_and_batches_few_steps(throughput):
    args = throughput.parse_args(["--sweep"])
    plans = {
        (model, batch): tuple(throughput.window_plan(args, model, batch).values())
        for model in args.models
        for batch in args.batch_sizes
    }
    # (steps, windows, warmup)
    assert plans == {
        ("resnet20", 128): (3, 3, 2),
        ("resnet20", 512): (1, 2, 1),
        ("resnet56", 128): (1, 3, 1),
        ("resnet56", 512): (1, 1, 1),
        ("resnet18", 128): (1, 1, 1),
        ("resnet18", 512): (1, 1, 1),
    }
    explicit = throughput.parse_args(["--sweep", "--steps", "5", "--warmup", "0"])
    assert throughput.window_plan(explicit, "resnet18", 512) == {
        "steps": 5,
        "windows": 1,
        "warmup": 0,
    }


def test_sweep_rotates_the_order_and_reports_ratios(throughput, fake_workers):
    args = throughput.parse_args(
        ["--sweep", "--models", "resnet20,resnet18", "--rounds", "2"]
    )
    outcome = throughput.run_sweep(args, "/fake/python")
    rows = outcome["rows"]
    assert len(rows) == 2 * 2 * 5 * 2 and outcome["rounds_completed"] == 2
    # Every implementation once per (round, model, batch), rotated in round 2.
    for number, shift in ((1, 0), (2, 1)):
        cell = [r for r in rows if r["round"] == number and r["model"] == "resnet18"]
        assert [r["impl"] for r in cell[:5]] == FIVE[shift:] + FIVE[:shift]
        assert [r["batch_size"] for r in cell] == [128] * 5 + [512] * 5
    # Workers get the cell's model, batch and plan; TensorFlow gets oneDNN on.
    first = fake_workers[0]
    assert first["options"]["--model"] == "resnet20"
    assert first["options"]["--batch-size"] == "128"
    assert (first["options"]["--steps"], first["options"]["--windows"]) == ("3", "3")
    assert first["env"]["TF_ENABLE_ONEDNN_OPTS"] == "1"
    torch_commands = [c["command"] for c in fake_workers if c["command"][3] == "torch"]
    assert {c[0] for c in torch_commands} == {"/fake/python"}
    assert all(
        isinstance(r["load_before"], list) and len(r["load_after"]) == 3 for r in rows
    )

    summary = throughput.summarize(rows)
    assert len(summary["medians"]) == 2 * 2 * 5
    assert all(m["rounds"] == 2 for m in summary["medians"])
    for cell in summary["cells"]:
        assert cell["best_torch"] == "torch-channels-last"
        assert cell["ours_vs_best_torch"] == pytest.approx(0.8, rel=0.05)
        assert cell["ours_vs_best_torch_in_round"] == pytest.approx(0.8, rel=0.05)
        assert cell["ours_vs_plain"] == pytest.approx(1.25, rel=0.05)

    text = throughput.sweep_tables(summary)
    header = text.splitlines()[0]
    assert all(f" {impl} " in header for impl in FIVE)
    assert "| resnet18 | 11,173,962 | 512   |" in text
    assert "| torch-channels-last | 0.80" in text


def test_sweep_records_a_failed_worker_and_goes_on(throughput, fake_workers):
    args = throughput.parse_args(
        ["--sweep", "--models", "resnet20", "--batch-sizes", "128"]
        + ["--impls", "ours,torch-contiguous", "--rounds", "1"]
    )
    rows = throughput.run_sweep(args, "/fake/broken")["rows"]
    assert [("error" in r) for r in rows] == [False, True]
    assert "boom" in rows[1]["error"]
    cell = throughput.summarize(rows)["cells"][0]
    assert cell["best_torch"] is None and cell["ours_vs_best_torch"] is None


def test_budget_stops_before_a_round_that_would_overrun(
    throughput, fake_workers, common, monkeypatch
):
    slow = common.run_json_child

    def slow_worker(command, env, timeout=None):
        time.sleep(0.02)
        return slow(command, env, timeout)

    monkeypatch.setattr(common, "run_json_child", slow_worker)
    args = throughput.parse_args(
        ["--sweep", "--models", "resnet20", "--batch-sizes", "128", "--impls"]
        + ["ours,plain", "--rounds", "3", "--budget-minutes", "0.0001"]
    )
    outcome = throughput.run_sweep(args, "/fake/python")
    assert outcome["rounds_completed"] == 1 and outcome["stopped_by_budget"]
    assert {r["round"] for r in outcome["rows"]} == {1}


def test_ctrl_c_reports_the_rows_so_far(throughput, fake_workers, common, monkeypatch):
    answer = common.run_json_child

    def interrupted_third(command, env, timeout=None):
        if len(fake_workers) == 2:
            raise KeyboardInterrupt
        return answer(command, env, timeout)

    monkeypatch.setattr(common, "run_json_child", interrupted_third)
    args = throughput.parse_args(
        ["--sweep", "--models", "resnet20", "--impls", "ours,plain", "--rounds", "2"]
    )
    outcome = throughput.run_sweep(args, None)
    assert outcome["interrupted"] and outcome["rounds_completed"] == 0
    assert [(r["batch_size"], r["impl"]) for r in outcome["rows"]] == [
        (128, "ours"),
        (128, "plain"),
    ]
    assert throughput.summarize(outcome["rows"])["cells"][0]["ours_vs_plain"] == 1.25


def test_sweep_skips_torch_when_none_is_installed(throughput, fake_workers, capsys):
    args = throughput.parse_args(
        ["--sweep", "--models", "resnet20", "--batch-sizes", "8", "--rounds", "1"]
    )
    rows = throughput.run_sweep(args, None)["rows"]
    assert [r["impl"] for r in rows] == ["ours", "plain"]
    assert "skipped: torch-contiguous, torch-channels-last, torch-compile" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--batch-sizes", "128,0"], "Received: batch_sizes='0'"),
        (["--models", "resnet20,resnet99"], "Received: models='resnet99'"),
        (["--rounds", "0"], "Received: rounds=0"),
        (["--budget-minutes", "0"], "Received: budget_minutes=0.0"),
        (["--impls", "ours,torch-fast"], "Received: impls='torch-fast'"),
        (
            ["--json", "/nonexistent-dir/x.json"],
            "Received: json=/nonexistent-dir/x.json",
        ),
    ],
)
def test_bad_sweep_arguments_exit_2(argv, message):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--sweep", *argv], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("model", ["resnet20", "resnet56"])
def test_plain_keras_he_resnet_matches_ours(common, throughput, model):
    import keras_resnet
    from keras_resnet.models import count_trainable_params

    builder, kwargs = throughput.OURS[model]
    ours = keras_resnet.build_model(builder, **kwargs)
    plain = common.build_plain_keras_resnet(model)
    assert count_trainable_params(ours) == common.PARAMS[model]
    assert count_trainable_params(plain) == common.PARAMS[model]
    kernels = [
        tuple(layer.kernel.shape)
        for layer in plain.layers
        if layer.__class__.__name__ == "Conv2D"
    ]
    assert kernels == [
        tuple(layer.kernel.shape)
        for layer in ours.layers
        if layer.__class__.__name__ == "Conv2D"
    ]


def test_torch_he_resnet_has_our_parameter_counts(common, torch_python):
    # In the torch interpreter (not a project dependency): the counts at full
    # width and at the tiny width the quick sweep can use.
    code = (
        f"import sys; sys.path.insert(0, {str(SCRIPT.parent)!r}); import _common\n"
        "print([_common.count_torch_params(_common.build_torch_resnet(m, w))"
        " for m, w in (('resnet20', 1.0), ('resnet56', 1.0), ('resnet20', 0.125))])"
    )
    result = subprocess.run(
        [torch_python, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == [272_474, 855_770, 4_556]


@pytest.fixture(scope="module")
def quick_sweep(tmp_path_factory, common):
    """``--sweep --quick`` over ResNet-20 at width 0.125: ours, and where torch
    is found PyTorch contiguous and channels_last.

    One TensorFlow worker only (the single-network tests run plain Keras in
    a real process); returns ``(completed process, the --json report,
    torch interpreter or None)``.
    """
    torch = common.python_with(
        "torch", [os.environ.get("TORCH_PYTHON"), sys.executable]
    )
    impls = "ours,torch-contiguous,torch-channels-last" if torch else "ours"
    out = tmp_path_factory.mktemp("sweep") / "sweep.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--sweep", "--quick", "--models", "resnet20"]
        + ["--impls", impls, "--width-multiplier", "0.125", "--intra-op", "1"]
        + ["--json", str(out)]
        + (["--torch-python", torch] if torch else []),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result, json.loads(out.read_text()), torch


@pytest.mark.slow
def test_quick_sweep_writes_rows_medians_and_the_table(quick_sweep):
    result, report, _ = quick_sweep
    assert report["complete"] and report["rounds_completed"] == 1
    assert report["settings"]["onednn"] == "on"
    ours = report["rows"][0]
    assert (ours["model"], ours["batch_size"], ours["impl"]) == ("resnet20", 8, "ours")
    # oneDNN really on in the worker, and the workaround TensorFlow needs at
    # this width (strided 1x1 convolutions of 2 and 4 channels) applied.
    assert ours["onednn"] is True and ours["strided_1x1_workaround"] == 2
    assert ours["params"] == 4_556
    assert ours["images_per_s"] > 0 and ours["wall_s"] > 0
    assert len(ours["load_before"]) == len(ours["load_after"]) == 3
    (median,) = [m for m in report["medians"] if m["impl"] == "ours"]
    assert median["images_per_s"] == ours["images_per_s"] and median["rounds"] == 1
    assert "| resnet20 | 4,556  | 8     |" in result.stdout


@pytest.mark.slow
def test_quick_sweep_against_torch(quick_sweep):
    """Contiguous PyTorch trains the same network; channels_last at this width
    is refused in one line (it would crash PyTorch's oneDNN)."""
    result, report, torch = quick_sweep
    if torch is None:
        pytest.skip("no interpreter with torch (set TORCH_PYTHON)")
    ours, contiguous, channels_last = report["rows"]
    assert ours["params"] == contiguous["params"] == 4_556
    assert "crashes PyTorch's oneDNN" in channels_last["error"]
    (cell,) = report["cells"]
    assert cell["best_torch"] == "torch-contiguous"
    assert cell["ours_vs_best_torch"] == pytest.approx(
        ours["images_per_s"] / contiguous["images_per_s"]
    )
    assert "torch-contiguous" in result.stdout.splitlines()[2]

"""The profiler harness: op time attributed to layers and op types."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "profile_step.py"


CLASSES = {"stem_conv": "Conv2D", "stage1_block1_bn1": "BatchNormalization"}


@pytest.mark.parametrize(
    "op_name, expected",
    [
        ("resnet18_1/stem_conv_1/convolution", "Conv2D"),
        (
            "gradient_tape/resnet18_1/stage1_block1_bn1_1/FusedBatchNormGradV3",
            "BatchNormalization",
        ),
        ("resnet18_1/stem_conv/convolution", "Conv2D"),
        ("SGD/AssignAddVariableOp", "(optimizer, loss, other)"),
        ("stage1_block1_bn1_x/Mul", "(optimizer, loss, other)"),
    ],
)
def test_ops_are_attributed_to_their_layer_class(profile_step, op_name, expected):
    assert profile_step.layer_of(op_name, CLASSES) == expected


def test_summary_shares_and_per_step_times(profile_step):
    events = [
        ("m/stem_conv_1/convolution", "Conv2D", 30.0),
        ("gradient_tape/m/stem_conv_1/c", "Conv2DBackpropFilter", 50.0),
        ("m/stage1_block1_bn1_1/bn", "FusedBatchNormV3", 10.0),
        ("SGD/update", "AssignAddVariableOp", 10.0),
    ]
    summary = profile_step.summarize(events, CLASSES, steps=2, top=2)
    assert summary["op_ms_per_step"] == 50.0
    by_class = {row["name"]: row for row in summary["by_layer_class"]}
    assert by_class["Conv2D"]["ms_per_step"] == 40.0
    assert by_class["Conv2D"]["share"] == pytest.approx(0.8)
    assert by_class["BatchNormalization"]["share"] == pytest.approx(0.1)
    assert [row["name"] for row in summary["by_op_type"]] == [
        "Conv2DBackpropFilter",
        "Conv2D",
    ]


def test_empty_trace_is_an_error(profile_step):
    with pytest.raises(SystemExit, match="no TensorFlow op events"):
        profile_step.summarize([], CLASSES, steps=1, top=5)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--steps", "0"], "Received: steps=0"),
        (["--width-multiplier", "0"], "Received: width_multiplier=0"),
        (["--impl", "caffe"], "invalid choice: 'caffe'"),
    ],
)
def test_bad_arguments_exit_2(argv, message):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *argv], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("impl", ["ours", "plain"])
def test_quick_profile_finds_convolutions_and_batch_norm(
    profile_step, impl, tmp_path, capsys, monkeypatch
):
    # main() in this process (TensorFlow is loaded already); the script runs
    # as a script in test_bad_arguments_exit_2. main() sets these two
    # variables if unset: monkeypatch puts them back afterwards.
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.setenv(
        "TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")
    )
    out = tmp_path / "profile.json"
    assert profile_step.main(["--quick", "--impl", impl, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["impl"] == impl and report["batch_size"] == 8
    shares = {row["name"]: row["share"] for row in report["by_layer_class"]}
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["Conv2D"] > 0.2 and shares["BatchNormalization"] > 0
    op_types = [row["name"] for row in report["by_op_type"]]
    assert any("Conv2DBackpropFilter" in name for name in op_types)
    fused = any("FusedBatchNorm" in name for name in op_types)
    assert fused == (impl == "ours")  # Keras' own layer runs unfused ops
    assert "| layer class" in capsys.readouterr().out

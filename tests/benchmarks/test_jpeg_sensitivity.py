"""benchmarks/jpeg_sensitivity.py: accuracy after one more JPEG pass, per quality."""

import json
import math

import numpy as np
import pytest
from benchmark_scripts import load_benchmark_module


@pytest.fixture(scope="module")
def script():
    return load_benchmark_module("jpeg_sensitivity")


def test_reencoding_distorts_more_at_lower_quality(script):
    rng = np.random.default_rng(0)
    # Smooth images with some texture, as photographs are.
    base = np.linspace(0, 255, 32 * 32 * 3).reshape(1, 32, 32, 3)
    images = np.clip(base + rng.normal(0, 20, (4, 32, 32, 3)), 0, 255).astype(np.uint8)
    high, low = script.reencode(images, 90), script.reencode(images, 20)
    assert high.shape == low.shape == images.shape and high.dtype == np.uint8
    assert np.all(np.isinf(script.psnr(images, images)))
    assert np.all(script.psnr(images, low) < script.psnr(images, high))
    assert np.all(script.psnr(images, low) < 40)


def test_quick_run_scores_the_test_split_as_given_and_reencoded(
    script, trained_run, tmp_path, capsys
):
    out = tmp_path / "jpeg.json"
    code = script.main(
        [str(trained_run.path), "--dataset", "synthetic", "--max-test-examples", "64"]
        + ["--quick", "--batch-size", "32", "--out", str(out)]
    )
    assert code == 0
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert [row["quality"] for row in rows] == [None, *script.QUICK_QUALITIES]
    assert result["test_examples"] == 64
    metrics = json.loads((trained_run.path / "metrics.json").read_text())
    # The images as given are the run's own test split: the run's accuracy.
    assert rows[0]["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert math.isinf(rows[0]["mean_psnr_db"])
    assert rows[1]["mean_psnr_db"] > rows[2]["mean_psnr_db"] > 10
    for row in rows:
        assert row["correct"] == round(row["accuracy"] * 64)
    printed = capsys.readouterr().out
    assert "as given" in printed and f"JPEG q{script.QUICK_QUALITIES[1]}" in printed


def test_a_quality_out_of_range_is_refused(script, capsys):
    with pytest.raises(SystemExit) as exit_info:
        script.main(["run", "--dataset", "synthetic", "--qualities", "75", "120"])
    assert exit_info.value.code == 2
    assert "Received: 120" in capsys.readouterr().err

"""benchmarks/train_grad_norm_overhead.py: the harness, in quick mode."""

import json
import sys

from benchmark_scripts import load_benchmark_module


def test_quick_run_times_both_models_and_reports_the_overhead(monkeypatch, capsys):
    # The script's main() in this process (Keras is loaded already).
    script = load_benchmark_module("train_grad_norm_overhead")
    monkeypatch.setattr(sys, "argv", ["train_grad_norm_overhead.py", "--quick"])
    script.main()
    report = json.loads(capsys.readouterr().out)
    assert report["batch_size"] == 16 and report["rounds"] == 2
    for name in ("with", "without"):
        windows = report[f"windows_{name}"]
        assert len(windows) == 2 and all(s > 0 for s in windows)
    ratios = [
        w / wo
        for w, wo in zip(report["windows_with"], report["windows_without"], strict=True)
    ]
    expected = 100 * (sorted(ratios)[0] + sorted(ratios)[1]) / 2 - 100
    assert abs(report["overhead_percent_median_ratio"] - expected) < 1e-9


def test_the_two_models_differ_only_in_tracking():
    benchmark = load_benchmark_module("train_grad_norm_overhead")

    models, images, labels = benchmark.build_pair(quick=True)
    without, with_ = models["without"], models["with"]
    assert not hasattr(without.optimizer, "gradient_norm_stats")
    assert hasattr(with_.optimizer, "gradient_norm_stats")
    assert [w.path for w in without.weights] == [w.path for w in with_.weights]
    for a, b in zip(without.get_weights(), with_.get_weights(), strict=True):
        assert (a == b).all()
    assert len(images) == len(labels) == 16

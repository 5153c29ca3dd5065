"""benchmarks/split_gap.py: the validation-test gap against near-duplicates."""

import json

import numpy as np
import pytest
from benchmark_scripts import load_benchmark_module


@pytest.fixture(scope="module")
def script():
    return load_benchmark_module("split_gap")


def test_a_copy_is_found_whatever_its_brightness_and_contrast(script):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (50, 8, 8, 3)).astype(np.uint8)
    copy = np.clip(train[37].astype(np.float64) * 0.5 + 40, 0, 255).astype(np.uint8)
    other = rng.integers(0, 256, (1, 8, 8, 3)).astype(np.uint8)
    queries = script.features(np.stack([copy, other[0]]))
    reference = script.features(train)
    similarity, index = script.nearest(queries, reference, chunk=7)
    assert index[0] == 37 and similarity[0] > 0.99
    assert similarity[1] < 0.5  # unrelated noise
    # Chunking changes nothing: the same as one product over every row.
    full = queries @ reference.T
    np.testing.assert_array_equal(index, full.argmax(axis=1))
    np.testing.assert_allclose(similarity, full.max(axis=1), rtol=1e-6)


def test_shares_accuracies_and_bins_from_known_arrays(script):
    # Validation: 10 images, all right, 2 near-duplicates (0.99). Test: 20
    # images, the first 10 right, 1 near-duplicate (wrong).
    correct = {"validation": np.ones(10, bool), "test": np.arange(20) < 10}
    similarity = {
        "validation": np.array([0.99, 0.99] + [0.5] * 8, np.float32),
        "test": np.array([0.3] * 19 + [0.99], np.float32),
    }
    same_label = {"validation": np.ones(10, bool), "test": np.ones(20, bool)}
    labels = {"validation": np.arange(10) % 2, "test": np.arange(20) % 2}
    report = script.measure(correct, similarity, same_label, labels, ("a", "b"))
    assert report["accuracy"]["validation"]["accuracy"] == 1.0
    assert report["accuracy"]["test"] == {
        "n": 20,
        "accuracy": 0.5,
        "standard_error": pytest.approx(np.sqrt(0.25 / 20)),
    }
    assert report["gap"] == pytest.approx(0.5)
    strict = report["duplicates"][-1]  # > 0.98
    assert strict["validation"]["share"] == pytest.approx(0.2)
    assert strict["test"]["share"] == pytest.approx(0.05)
    assert strict["test"]["accuracy_on_them"] == 0.0
    assert strict["test"]["accuracy_without"]["accuracy"] == pytest.approx(10 / 19)
    assert strict["test"]["accuracy_without"]["n"] == 19
    bins = report["similarity_bins"]
    assert len(bins) == script.BINS
    assert bins[0]["low"] == pytest.approx(0.3) and bins[-1]["high"] == pytest.approx(
        0.99
    )
    # Every image falls in a bin (an edge value may count in two).
    for split, size in (("validation", 10), ("test", 20)):
        assert sum(row[split]["n"] for row in bins) >= size
    assert report["per_class"]["a"] == {"validation": 1.0, "test": 0.5}


def test_a_run_directory_uses_its_own_splits(script, trained_run, tmp_path, capsys):
    out = tmp_path / "gap.json"
    code = script.main([str(trained_run.path), "--batch-size", "32", "--out", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    # The run's held-out images: 128 train, 32 validation, 64 test.
    assert result["train_examples"] == 128
    assert result["accuracy"]["validation"]["n"] == 32
    assert result["accuracy"]["test"]["n"] == 64
    metrics = json.loads((trained_run.path / "metrics.json").read_text())
    test = result["accuracy"]["test"]["accuracy"]
    assert test == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert result["gap"] == pytest.approx(
        result["accuracy"]["validation"]["accuracy"] - test
    )
    for row in result["duplicates"]:
        for split in ("validation", "test"):
            assert 0.0 <= row[split]["share_same_label"] <= row[split]["share"] <= 1.0
    assert f"n={64}" in capsys.readouterr().out


def test_a_model_file_without_config_is_refused(script, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        script.main([str(tmp_path / "model.keras")])
    assert exit_info.value.code == 2
    assert "give --config" in capsys.readouterr().err


def test_results_go_to_the_dated_file_of_their_benchmark(common, tmp_path, monkeypatch):
    result = {"benchmark": "split_gap", "date": "2026-11-30", "gap": 0.016}
    given = common.write_result(result, tmp_path / "deep" / "out.json")
    assert given == tmp_path / "deep" / "out.json"
    assert json.loads(given.read_text()) == result
    # The default: benchmarks/results/<benchmark>-<date>.json beside _common.py.
    monkeypatch.setattr(common, "__file__", str(tmp_path / "benchmarks" / "_common.py"))
    default = common.write_result(result)
    assert default == tmp_path / "benchmarks" / "results" / "split_gap-2026-11-30.json"
    assert json.loads(default.read_text()) == result

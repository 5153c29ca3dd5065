"""The shared real CIFAR-10 JPEG copy: read from its archives, loaded and fit.

Decoding the copy's 60,000 JPEGs costs most of these tests' time, so they
share the session's decode cache (``shared_cifar_cache``): the suite's first
user decodes the copy and writes the cache, the others read it.
"""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from keras_resnet.cli import cli
from keras_resnet.data.folders import decode_images, read_tar_entries
from keras_resnet.train.config import TrainConfig

pytestmark = pytest.mark.realdata

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


@pytest.fixture(autouse=True)
def one_decode_cache(isolated_cache, shared_cifar_cache, monkeypatch):
    """These tests read the session's decode cache of the copy (outside the
    home folder): decoded once for the suite, by its first user."""
    monkeypatch.setenv("KERAS_RESNET_CACHE", str(shared_cifar_cache))


def test_shared_test_archive_reads_in_class_order(shared_cifar_dir):
    entries = read_tar_entries(shared_cifar_dir / "test.tar.gz")
    assert set(entries) == {"test"}
    assert tuple(sorted(entries["test"])) == CIFAR10_CLASSES
    assert all(len(files) == 1000 for files in entries["test"].values())
    sample = [sorted(entries["test"][name])[:30] for name in CIFAR10_CLASSES]
    images = decode_images([item for files in sample for item in files])
    assert images.shape == (300, 32, 32, 3) and images.dtype == np.uint8
    assert 60 < images.mean() < 190  # real photographs, not blank decodes


@pytest.mark.slow
def test_shared_copy_through_load_dataset(shared_cifar_dir):
    from keras_resnet.data import load_dataset

    splits = load_dataset(
        str(shared_cifar_dir), max_train_examples=500, max_test_examples=200
    )
    assert splits.class_names == CIFAR10_CLASSES
    assert (splits.train_size, splits.test_size) == (500, 200)
    assert np.bincount(splits.arrays["train"][1]).tolist() == [50] * 10
    assert np.bincount(splits.arrays["test"][1]).tolist() == [20] * 10
    # Close to the known CIFAR-10 training statistics (JPEG copy, subset).
    np.testing.assert_allclose(splits.mean, (125.3, 123.0, 113.9), atol=8)


@pytest.mark.slow
def test_fit_on_the_shared_cifar10_jpegs(shared_cifar_dir, tmp_path):
    # (Moved from tests/cli/test_cli_end_to_end.py. The network does not
    # matter here, the real data does: a ResNet-8 at 1/16 width.)
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        [
            "fit", "mini_resnet", "--model-option", "blocks_per_stage=1",
            "--dataset", str(shared_cifar_dir),
            "--epochs", "1", "--batch-size", "32", "--width-multiplier", "0.0625",
            "--max-train-examples", "160", "--max-test-examples", "64",
            "--validation-split", "0.2", "--grad-norm-steps", "0",
            "--no-jit-compile", "--grad-probe-size", "50",
            "-o", str(run_dir), "-q",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for name in ("config.yaml", "history.json", "model.keras", "best.keras"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["model"] == "mini_resnet" and metrics["completed"] is True
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    config = TrainConfig.from_yaml(run_dir / "config.yaml")
    assert (config.epochs, config.max_train_examples) == (1, 160)
    dataset = json.loads((run_dir / "dataset.json").read_text())
    assert dataset["class_names"][:3] == ["airplane", "automobile", "bird"]
    assert dataset["num_classes"] == 10
    assert result.output.splitlines()[-1] == f"  outputs: {run_dir}"
    # The shared copy decodes in class order: the gradient probe must not.
    gradients = json.loads((run_dir / "gradient_norms.json").read_text())
    counts = gradients["probe"]["class_counts"]
    assert sum(counts) == gradients["probe"]["size"] == 50
    assert counts == [5] * 10
    assert [entry["epoch"] for entry in gradients["train"]] == [1]
    for name in gradients["layers"]:
        mean = gradients["train"][0]["mean"][name]
        assert 0 < mean <= gradients["train"][0]["max"][name] < float("inf")

"""The committed reference run is the one behind the shipped CIFAR-10 weights.

``docs/img/reference/resnet20_cifar10/`` holds the light files of the run
``configs/reference/resnet20_cifar10.yaml`` made (config, dataset
statistics, history, metrics, gradient norms; no weights). The weights of
``build_model("mini_resnet", weights="cifar10")`` came from it: the entry
must carry its test accuracy, statistics and classes, and the run its
config's recipe, every epoch of it. Keras-free.
"""

from __future__ import annotations

import csv
import json
import pathlib

import yaml

from keras_resnet.models.catalog import PRETRAINED

REPO = pathlib.Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "reference" / "resnet20_cifar10.yaml"
RUN = REPO / "docs" / "img" / "reference" / "resnet20_cifar10"
# Where the run was written and how it printed: not part of the recipe.
NOT_RECIPE = {"output_dir", "verbose"}


def test_the_committed_run_followed_the_reference_config():
    recipe = yaml.safe_load(CONFIG.read_text())
    used = yaml.safe_load((RUN / "config.yaml").read_text())
    for key, value in recipe.items():
        if key not in NOT_RECIPE:
            assert used[key] == value, key


def test_the_committed_run_has_every_epoch_and_its_metrics():
    epochs = yaml.safe_load(CONFIG.read_text())["epochs"]
    with open(RUN / "history.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [int(row["epoch"]) for row in rows] == list(range(1, epochs + 1))
    metrics = json.loads((RUN / "metrics.json").read_text())
    assert metrics["completed"] is True
    assert metrics["epochs"] == epochs
    assert sum(map(sum, metrics["confusion_matrix"])) == 10_000


def test_the_shipped_cifar10_weights_are_the_committed_runs():
    entry = PRETRAINED["mini_resnet", "cifar10"]
    metrics = json.loads((RUN / "metrics.json").read_text())
    dataset = json.loads((RUN / "dataset.json").read_text())
    assert entry.test_accuracy == metrics["test_accuracy"]
    assert list(entry.mean) == dataset["mean"]
    assert list(entry.std) == dataset["std"]
    assert list(entry.class_names) == dataset["class_names"]
    assert (dataset["train_size"], dataset["validation_size"]) == (45_000, 5_000)
    assert dataset["test_size"] == 10_000
    assert entry.arguments["blocks_per_stage"] == 3

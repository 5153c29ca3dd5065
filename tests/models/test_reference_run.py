"""The committed reference runs, and the one behind the shipped weights.

``docs/img/reference/<name>/`` holds the light files of the run
``configs/reference/<name>.yaml`` made (config, dataset statistics,
history, metrics, gradient norms; no weights): each run must have followed
its config's recipe, every epoch of it. The weights of
``build_model("mini_resnet", weights="cifar10")`` came from ``SHIPPED``: the
entry must carry its test accuracy, statistics and classes. Keras-free.
"""

from __future__ import annotations

import csv
import json
import pathlib

import pytest
import yaml

from keras_resnet.models.catalog import PRETRAINED

REPO = pathlib.Path(__file__).resolve().parents[2]
RUNS = ("resnet20_cifar10", "resnet20_cifar10_long")
SHIPPED = "resnet20_cifar10_long"
# Where the run was written and how it printed: not part of the recipe.
NOT_RECIPE = {"output_dir", "verbose"}


def config_path(name: str) -> pathlib.Path:
    return REPO / "configs" / "reference" / f"{name}.yaml"


def run_path(name: str) -> pathlib.Path:
    return REPO / "docs" / "img" / "reference" / name


@pytest.mark.parametrize("name", RUNS)
def test_the_committed_run_followed_the_reference_config(name):
    recipe = yaml.safe_load(config_path(name).read_text())
    used = yaml.safe_load((run_path(name) / "config.yaml").read_text())
    for key, value in recipe.items():
        if key not in NOT_RECIPE:
            assert used[key] == value, key


@pytest.mark.parametrize("name", RUNS)
def test_the_committed_run_has_every_epoch_and_its_metrics(name):
    epochs = yaml.safe_load(config_path(name).read_text())["epochs"]
    with open(run_path(name) / "history.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [int(row["epoch"]) for row in rows] == list(range(1, epochs + 1))
    metrics = json.loads((run_path(name) / "metrics.json").read_text())
    assert metrics["completed"] is True
    assert metrics["epochs"] == epochs
    assert sum(map(sum, metrics["confusion_matrix"])) == 10_000


def test_the_shipped_cifar10_weights_are_the_committed_runs():
    entry = PRETRAINED["mini_resnet", "cifar10"]
    run = run_path(SHIPPED)
    metrics = json.loads((run / "metrics.json").read_text())
    dataset = json.loads((run / "dataset.json").read_text())
    assert f"configs/reference/{SHIPPED}.yaml" in entry.source
    assert entry.test_accuracy == metrics["test_accuracy"]
    assert list(entry.mean) == dataset["mean"]
    assert list(entry.std) == dataset["std"]
    assert list(entry.class_names) == dataset["class_names"]
    assert (dataset["train_size"], dataset["validation_size"]) == (45_000, 5_000)
    assert dataset["test_size"] == 10_000
    assert entry.arguments["blocks_per_stage"] == 3

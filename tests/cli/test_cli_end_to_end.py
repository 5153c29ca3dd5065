"""Real short training runs through the command line: the session's
``trained_run`` (a tiny ``fit`` in a new process), evaluated, predicted and
refused as an overwrite target."""

import json
import pathlib

import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from keras_resnet.cli import cli
from keras_resnet.train.config import TrainConfig

pytestmark = pytest.mark.slow

RUN_FILES = (
    "config.yaml",
    "dataset.json",
    "history.csv",
    "history.json",
    "metrics.json",
    "model.keras",
    "best.keras",
)


def run(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def check_run_dir(run_dir: pathlib.Path, model: str, epochs: int) -> dict:
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["model"] == model and metrics["completed"] is True
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    config = TrainConfig.from_yaml(run_dir / "config.yaml")
    assert (config.model, config.epochs, config.max_train_examples) == (
        model,
        epochs,
        160,
    )
    return metrics


def test_fit_synthetic_end_to_end(trained_run):
    run_dir = trained_run.path
    metrics = check_run_dir(run_dir, "mini_resnet", epochs=2)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["model_options"] == {"blocks_per_stage": 1}
    lines = trained_run.stdout.splitlines()
    assert lines[0].startswith("Training mini_resnet (")
    assert "128 train, 32 validation, 64 test" in lines[0]
    assert f"test accuracy: {metrics['test_accuracy']:.4f}" in trained_run.stdout
    assert lines[-1] == f"  outputs: {run_dir}"


def test_fit_refuses_to_overwrite_a_completed_run(trained_run, trained_run_copy):
    run_dir = trained_run_copy
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.is_file()}
    result = run(*trained_run.args, "-o", run_dir, "-q")
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and len(result.output.splitlines()) == 1
    after = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.is_file()}
    assert after == before  # nothing written by the failed command


def test_evaluate_a_real_run(trained_run):
    run_dir = trained_run.path
    result = run("evaluate", run_dir, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert report["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    dataset = json.loads((run_dir / "dataset.json").read_text())
    assert list(report["per_class_accuracy"]) == dataset["class_names"]


def test_predict_with_a_real_run(trained_run, tmp_path):
    run_dir = trained_run.path
    image = tmp_path / "shape.png"
    Image.new("RGB", (48, 40), (200, 30, 30)).save(image)
    result = run("predict", run_dir, image, "--top-k", "3", "--json")
    assert result.exit_code == 0, result.output
    (classes,) = json.loads(result.output).values()
    class_names = json.loads((run_dir / "dataset.json").read_text())["class_names"]
    assert len(classes) == 3 and {c["class"] for c in classes} <= set(class_names)


# (The fit on the shared CIFAR-10 copy is in tests/data/test_shared_cifar.py,
# which decodes the copy once for it and for load_dataset.)

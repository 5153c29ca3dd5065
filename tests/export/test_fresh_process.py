"""predict, evaluate and export on each kind of model, each in a new process.

One real run is trained by ``keras-resnet fit`` (tiny, synthetic data) and
exported as a SavedModel; then every command runs as ``python cli.py ...``
on the run directory, its ``model.keras`` and the SavedModel, where nothing
has registered the package's layers beforehand. The export data-loss cases
of issue 13 are checked with checksums of every file around the run.
"""

import json
import pathlib

import numpy as np
import pytest
from cli_process import keras_resnet
from file_checks import checksums
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def succeeded(done):
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """``runs/run`` (a real fit), ``serving/1`` (its SavedModel), ``red.png``."""
    root = tmp_path_factory.mktemp("fresh")
    succeeded(
        keras_resnet(
            "fit",
            "mini_resnet",
            "--model-option",
            "blocks_per_stage=1",
            "--dataset",
            "synthetic",
            "--width-multiplier",
            "0.125",
            "--max-train-examples",
            "64",
            "--max-test-examples",
            "32",
            "--batch-size",
            "16",
            "--epochs",
            "1",
            "--verbose",
            "0",
            "-o",
            "runs/run",
            cwd=root,
        )  # fmt: skip
    )
    succeeded(keras_resnet("export", "runs/run", "serving", "--version", "1", cwd=root))
    Image.new("RGB", (40, 36), (220, 30, 30)).save(root / "red.png")
    return root


KINDS = {
    "run directory": "runs/run",
    "keras file": "runs/run/model.keras",
    "saved model": "serving",
}


@pytest.mark.parametrize("kind", KINDS)
def test_predict_on_each_kind(workspace, kind):
    out = succeeded(
        keras_resnet("predict", KINDS[kind], "red.png", "--json", cwd=workspace)
    )
    (classes,) = json.loads(out).values()
    dataset = json.loads((workspace / "runs/run/dataset.json").read_text())
    assert [entry["class"] for entry in classes] != []
    assert {entry["class"] for entry in classes} <= set(dataset["class_names"])
    probabilities = [entry["probability"] for entry in classes]
    assert probabilities == sorted(probabilities, reverse=True)
    # The same model in three forms gives the same answer.
    (workspace / f"predict-{kind}.json").write_text(out)
    others = [json.loads(p.read_text()) for p in workspace.glob("predict-*.json")]
    for other in others:
        (other_classes,) = other.values()
        assert other_classes[0]["class"] == classes[0]["class"]
        assert other_classes[0]["probability"] == pytest.approx(
            classes[0]["probability"], abs=1e-4
        )


@pytest.mark.parametrize("kind", KINDS)
def test_evaluate_on_each_kind(workspace, kind):
    # A SavedModel carries no config.yaml, so it needs --dataset.
    extra = ["--dataset", "synthetic"] if kind == "saved model" else []
    out = succeeded(
        keras_resnet("evaluate", KINDS[kind], *extra, "--json", cwd=workspace)
    )
    report = json.loads(out)
    dataset = json.loads((workspace / "runs/run/dataset.json").read_text())
    assert list(report["per_class_accuracy"]) == dataset["class_names"]
    assert 0.0 <= report["accuracy"] <= 1.0
    if kind != "saved model":  # evaluated on the run's own test split
        metrics = json.loads((workspace / "runs/run/metrics.json").read_text())
        assert report["accuracy"] == pytest.approx(metrics["test_accuracy"])


@pytest.mark.parametrize(
    ("kind", "args", "expected"),
    [
        ("keras file", ["--format", "keras"], ["dataset.json", "model.keras"]),
        ("saved model", ["--version", "2"], ["2"]),
    ],
)
def test_export_from_each_kind(workspace, kind, args, expected):
    # (The run directory was exported by the fixture.)
    target = workspace / f"export-{kind.replace(' ', '-')}"
    out = succeeded(keras_resnet("export", KINDS[kind], target, *args, cwd=workspace))
    assert out.startswith("Exported ")
    assert sorted(p.name for p in target.iterdir()) == expected
    # The export is a predict source (loaded here: predicting in a new process
    # from each kind of source is test_predict_on_each_kind).
    from keras_resnet.inference import load_predictor

    predictor = load_predictor(target)
    dataset = json.loads((workspace / "runs/run/dataset.json").read_text())
    assert predictor.class_names == dataset["class_names"]
    red = np.asarray(Image.open(workspace / "red.png").convert("RGB"))[None]
    assert predictor.predict(red).shape == (1, len(dataset["class_names"]))


# (A target that contains the source is refused by the same code, checked
# in-process in test_onnx_and_cli.py.)
@pytest.mark.parametrize(
    ("target", "message"),
    [("runs/run", "Error: Export target runs/run is the source runs/run;")],
)
def test_export_over_its_own_source_loses_nothing(workspace, target, message):
    (workspace / "runs" / "notes.txt").write_text("unrelated file beside the run")
    before = checksums(workspace / "runs")
    done = keras_resnet(
        "export", "runs/run", target, "--format", "keras", "--overwrite",
        cwd=workspace,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(message), done.stderr
    assert checksums(workspace / "runs") == before
    assert not [p.name for p in workspace.iterdir() if p.name.startswith(".")]
    assert not [p.name for p in (workspace / "runs").iterdir() if ".tmp-" in p.name]

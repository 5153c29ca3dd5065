"""predict, evaluate and export on each kind of model, in new processes.

The session's ``trained_run`` (a real ``keras-resnet fit``, tiny, synthetic
data) is copied to ``runs/run``; then each command runs in a new process of
its own (``keras-resnet`` started as ``python cli.py`` is) on the run
directory, its ``model.keras`` and the SavedModel that another process
exported, where nothing has registered the package's layers beforehand. One
process per command serves the three kinds of model, the first call of each
process on a kind that loads a Keras file (run directory for export,
``model.keras`` for predict and evaluate). The export data-loss cases of
issue 13 are checked with checksums of every file around the run.
"""

import json
import shutil

import numpy as np
import pytest
from cli_process import cli_calls
from file_checks import checksums
from PIL import Image

pytestmark = pytest.mark.slow

KINDS = {
    "run directory": "runs/run",
    "keras file": "runs/run/model.keras",
    "saved model": "serving",
}
# (A target that contains the source is refused by the same code, checked
# in-process in test_onnx_and_cli.py.)
OWN_SOURCE = "Error: Export target runs/run is the source runs/run;"


def succeeded(done):
    assert done.returncode == 0, (done.args, done.stderr[-3000:])
    assert "Traceback" not in done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def workspace(trained_run, tmp_path_factory):
    """``runs/run`` (a real fit), ``red.png``, and the exports of one process.

    The export process first tries to export the run over itself (its one
    line of stderr is the whole stderr of a new process; ``runs/notes.txt``
    sits beside the run, and the checksums of ``runs/`` before are kept),
    then writes ``serving/1`` (the run's SavedModel: the first model the
    process loads), then exports the ``.keras`` file and that SavedModel.
    """
    root = tmp_path_factory.mktemp("fresh")
    shutil.copytree(trained_run.path, root / "runs" / "run")
    Image.new("RGB", (40, 36), (220, 30, 30)).save(root / "red.png")
    (root / "runs" / "notes.txt").write_text("unrelated file beside the run")
    before = checksums(root / "runs")
    exports = cli_calls(
        ["export", "runs/run", "runs/run", "--format", "keras", "--overwrite"],
        ["export", "runs/run", "serving", "--version", "1"],
        ["export", KINDS["keras file"], "export-keras-file", "--format", "keras"],
        ["export", KINDS["saved model"], "export-saved-model", "--version", "2"],
        cwd=root,
    )
    return root, before, exports


@pytest.fixture(scope="module")
def predictions(workspace):
    """``predict --json`` on each kind, ``model.keras`` first, one process."""
    root, _, _ = workspace
    order = ["keras file", "run directory", "saved model"]
    calls = [["predict", KINDS[kind], "red.png", "--json"] for kind in order]
    return dict(zip(order, cli_calls(*calls, cwd=root), strict=True))


@pytest.fixture(scope="module")
def evaluations(workspace):
    """``evaluate --json`` on each kind, ``model.keras`` first, one process."""
    root, _, _ = workspace
    order = ["keras file", "run directory", "saved model"]
    # A SavedModel carries no config.yaml, so it needs --dataset.
    extra = {"saved model": ["--dataset", "synthetic"]}
    calls = [["evaluate", KINDS[k], *extra.get(k, []), "--json"] for k in order]
    return dict(zip(order, cli_calls(*calls, cwd=root), strict=True))


def test_the_run_exports_as_a_saved_model(workspace):
    root, _, exports = workspace
    assert succeeded(exports[1]).startswith("Exported ")
    assert (root / "serving" / "1" / "saved_model.pb").is_file()


@pytest.mark.parametrize("kind", KINDS)
def test_predict_on_each_kind(workspace, predictions, kind):
    root, _, _ = workspace
    (classes,) = json.loads(succeeded(predictions[kind])).values()
    dataset = json.loads((root / "runs/run/dataset.json").read_text())
    assert [entry["class"] for entry in classes] != []
    assert {entry["class"] for entry in classes} <= set(dataset["class_names"])
    probabilities = [entry["probability"] for entry in classes]
    assert probabilities == sorted(probabilities, reverse=True)
    # The same model in three forms gives the same answer.
    for other in predictions.values():
        (other_classes,) = json.loads(succeeded(other)).values()
        assert other_classes[0]["class"] == classes[0]["class"]
        assert other_classes[0]["probability"] == pytest.approx(
            classes[0]["probability"], abs=1e-4
        )


@pytest.mark.parametrize("kind", KINDS)
def test_evaluate_on_each_kind(workspace, evaluations, kind):
    root, _, _ = workspace
    report = json.loads(succeeded(evaluations[kind]))
    dataset = json.loads((root / "runs/run/dataset.json").read_text())
    assert list(report["per_class_accuracy"]) == dataset["class_names"]
    assert 0.0 <= report["accuracy"] <= 1.0
    if kind != "saved model":  # evaluated on the run's own test split
        metrics = json.loads((root / "runs/run/metrics.json").read_text())
        assert report["accuracy"] == pytest.approx(metrics["test_accuracy"])


@pytest.mark.parametrize(
    ("kind", "call", "expected"),
    [
        ("keras file", 2, ["dataset.json", "model.keras"]),
        ("saved model", 3, ["2"]),
    ],
)
def test_export_from_each_kind(workspace, kind, call, expected):
    # (The run directory was exported first: test_the_run_exports_as_...)
    root, _, exports = workspace
    target = root / f"export-{kind.replace(' ', '-')}"
    assert succeeded(exports[call]).startswith("Exported ")
    assert sorted(p.name for p in target.iterdir()) == expected
    # The export is a predict source (loaded here: predicting in a new process
    # from each kind of source is test_predict_on_each_kind).
    from keras_resnet.inference import load_predictor

    predictor = load_predictor(target)
    dataset = json.loads((root / "runs/run/dataset.json").read_text())
    assert predictor.class_names == dataset["class_names"]
    red = np.asarray(Image.open(root / "red.png").convert("RGB"))[None]
    assert predictor.predict(red).shape == (1, len(dataset["class_names"]))


def test_export_over_its_own_source_loses_nothing(workspace):
    root, before, exports = workspace
    done = exports[0]
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(OWN_SOURCE), done.stderr
    assert checksums(root / "runs") == before
    assert not [p.name for p in root.iterdir() if p.name.startswith(".")]
    assert not [p.name for p in (root / "runs").iterdir() if ".tmp-" in p.name]

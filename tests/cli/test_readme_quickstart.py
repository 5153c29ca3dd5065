"""The README's command-line quick start, run as written.

Each command of the README's "Quick start (command line)" block runs in its
own shell (a new process, as a user types them one after the other) in an
empty directory, on the files the previous commands wrote. Then the run's
``.keras`` files and its keras-format export are loaded with plain Keras in a
process that cannot import this package, and give the classifier's
predictions.
"""

import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
from import_blocker import blocked_python
from PIL import Image

pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent


def quickstart_commands() -> list[str]:
    """The commands of the README block, continuation lines joined."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start (command line)", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands = block.replace("\\\n", " ").splitlines()
    return [line.split("  #", 1)[0].strip() for line in commands if line.strip()]


def test_the_block_is_what_this_test_expects():
    commands = quickstart_commands()
    assert commands[0] == "source .venv/bin/activate"
    verbs = [shlex.split(c)[1] for c in commands[1:]]
    assert verbs == ["models", "fit", "evaluate", "predict", "export", "predict"]


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """Run every command in a fresh shell; returns (cwd, [CompletedProcess])."""
    cwd = tmp_path_factory.mktemp("quickstart")
    # `source .venv/bin/activate` of the README: this environment's scripts.
    venv = cwd / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "activate").write_text(f'export PATH="{BIN}:$PATH"\n')
    Image.new("RGB", (48, 40), (200, 30, 30)).save(cwd / "image.png")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    results = []
    for command in quickstart_commands()[1:]:
        script = f"source .venv/bin/activate && {command}"
        results.append(
            subprocess.run(
                ["bash", "-c", script],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
        )
    return cwd, results


def test_every_command_exits_0(quickstart):
    _, results = quickstart
    for result in results:
        assert result.returncode == 0, (result.args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr


def test_outputs_are_what_the_readme_promises(quickstart):
    cwd, results = quickstart
    models, fit, evaluate, predict_run, export, predict_export = results
    assert "resnet18" in models.stdout and "densenet121" in models.stdout
    run = cwd / "runs" / "smoke"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["completed"] is True and metrics["epochs"] == 1
    assert f"{metrics['test_accuracy']:.4f}" in evaluate.stdout
    assert (cwd / "exported" / "1" / "saved_model.pb").is_file()
    # Top-3 of the same image from the run and from its SavedModel agree.
    class_names = json.loads((run / "dataset.json").read_text())["class_names"]
    for result in (predict_run, predict_export):
        shown = [name for name in class_names if name in result.stdout]
        assert len(shown) >= 3, result.stdout
    from_run, from_export = _top(predict_run.stdout), _top(predict_export.stdout)
    assert len(from_run) == 3 and set(from_run) <= set(class_names)
    assert set(from_export) == set(from_run)
    for name, probability in from_run.items():
        assert from_export[name] == pytest.approx(probability, abs=2e-4)


def _top(output: str) -> dict[str, float]:
    """``{class: probability}`` of predict's text table (``  0.1234  name``)."""
    rows = (line.split() for line in output.splitlines() if line.startswith("  "))
    return {name: float(probability) for probability, name in rows}


LOAD_PLAINLY = """
import json, sys
import numpy as np
import keras

images = np.load(sys.argv[1])
out = {}
for name, path in json.loads(sys.argv[2]).items():
    model = keras.saving.load_model(path)
    kinds = sorted({type(layer).__module__.split(".")[0] for layer in model.layers})
    out[name] = {"kinds": kinds, "p": model.predict(images, verbose=0).tolist()}
print(json.dumps(out))
"""


def test_run_models_load_in_plain_keras_without_the_package(quickstart, tmp_path):
    # The run's two files, and its export in the keras format (written here
    # by export_model: the keras format's file is what a user without the
    # package is handed; its config is checked in tests/export/test_export.py).
    from keras_resnet.export import export_model
    from keras_resnet.inference import load_classifier

    cwd, _ = quickstart
    run = cwd / "runs" / "smoke"
    exported = export_model(run, tmp_path / "keras-export", format="keras")
    files = {
        "model.keras": str(run / "model.keras"),
        "best.keras": str(run / "best.keras"),
        "export": str(exported / "model.keras"),
    }
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), "uint8")
    np.save(tmp_path / "images.npy", images)
    code = "sys.argv[1:] = " + repr([str(tmp_path / "images.npy"), json.dumps(files)])
    result = blocked_python(code + LOAD_PLAINLY, "keras_resnet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    for name in files:
        assert loaded[name]["kinds"] == ["keras"], loaded[name]["kinds"]
        probabilities = np.asarray(loaded[name]["p"])
        assert probabilities.shape == (4, 10)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # model.keras is the final classifier, and the keras-format export is the
    # same classifier: the same numbers as the package's own loader gives in
    # this process.
    classifier, _ = load_classifier(run)
    expected = np.asarray(classifier.predict(images, verbose=0))
    for name in ("model.keras", "export"):
        np.testing.assert_allclose(
            np.asarray(loaded[name]["p"]), expected, rtol=1e-5, atol=1e-6
        )

"""Export from the JAX backend: the same SavedModel signature, the same answers.

Two new processes. The first, with ``KERAS_BACKEND=jax``, runs
``keras-resnet export`` twice: ``--format onnx`` is refused in one line
(tf2onnx converts TensorFlow graphs) and leaves nothing behind, then the
SavedModel is written (Keras converts the model with jax2tf). The second
serves that SavedModel with plain ``tf.saved_model.load`` while neither
``keras_resnet`` nor JAX can be imported; its answers are compared with the
Keras model. (Export on JAX without TensorFlow installed is checked in
tests/test_without_tensorflow.py's TensorFlow-blocked process.)
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from import_blocker import blocked_python
from jax_env import FAST_XLA

from .helpers import CLASS_NAMES, IMAGE_SIZE, keras_reference, uint8_images

JAX_ENV = {
    "KERAS_BACKEND": "jax",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    # Loading a model on JAX compiles each variable's initializer. The
    # export itself is StableHLO, compiled again by TensorFlow where it is
    # served.
    "XLA_FLAGS": FAST_XLA,
}

# Runs with keras_resnet and JAX blocked: TensorFlow loads and serves the
# export (TensorFlow itself imports Keras when it is installed).
SERVE = """
import json
import sys

import numpy as np
import tensorflow as tf

export_dir, inputs_file, outputs_file = sys.argv[1:]
serve = tf.saved_model.load(export_dir).signatures["serving_default"]
inputs = np.load(inputs_file)
spec = serve.structured_input_signature[1]["images"]
results = {
    "input": [spec.name, spec.dtype.name, spec.shape.as_list()],
    "outputs": {},
}
for key in inputs.files:
    outputs = serve(images=tf.constant(inputs[key]))
    results["outputs"][key] = {
        name: [value.dtype.name, value.numpy().tolist()]
        for name, value in outputs.items()
        if name != "class_name"
    }
    names = [item.decode() for item in outputs["class_name"].numpy()]
    results["outputs"][key]["class_name"] = ["string", names]
leaked = [
    name for name in sys.modules if name.split(".")[0] in ("keras_resnet", "jax")
]
results["leaked"] = leaked
with open(outputs_file, "w") as file:
    json.dump(results, file)
"""


# The two exports of the JAX process, as ``keras-resnet export`` runs them (the
# command's entry point, cli.py's log level): ONNX first, in a fresh process,
# then the SavedModel. "--" on stderr ends the ONNX export's output.
EXPORTS = """
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from keras_resnet.cli import main

run, onnx_dir, serving_dir = sys.argv[1:]
for folder, argv in (
    (onnx_dir, ["out", "--format", "onnx"]),
    (serving_dir, ["serving", "--version", "1"]),
):
    os.chdir(folder)
    try:
        main(["export", run, *argv])
    except SystemExit as exit:
        print("EXIT", exit.code, flush=True)
        print("--", file=sys.stderr, flush=True)
"""


@pytest.fixture(scope="module")
def jax_exports(run_dir, tmp_path_factory):
    """Both exports of ``run_dir`` by the command on the JAX backend."""
    root = tmp_path_factory.mktemp("jax-export")
    (root / "onnx").mkdir()
    (root / "saved").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", EXPORTS, run_dir, root / "onnx", root / "saved"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **JAX_ENV},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return root, done


@pytest.fixture(scope="module")
def jax_export(jax_exports):
    """``serving/1`` exported from ``run_dir`` by the CLI on the JAX backend."""
    root, done = jax_exports
    assert done.stdout.splitlines()[1:] == [
        "Exported saved_model to serving/1",
        "EXIT 0",
    ], done.stderr[-3000:]
    return root / "saved" / "serving" / "1"


@pytest.fixture(scope="module")
def served(jax_export, tmp_path_factory):
    """What a TensorFlow-only process returns for uint8 images of two sizes."""
    folder = tmp_path_factory.mktemp("jax-served")
    images = {
        "model_size": uint8_images(3, IMAGE_SIZE, IMAGE_SIZE, 11),
        "other_size": uint8_images(2, 27, 21, 12),
    }
    np.savez(folder / "inputs.npz", **images)
    done = blocked_python(
        SERVE,
        "keras_resnet",
        "jax",
        "jaxlib",
        args=[jax_export, folder / "inputs.npz", folder / "out.json"],
        env={"TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # The model was converted without gradients, so TensorFlow does not warn.
    assert "custom gradients" not in done.stderr
    return images, json.loads((folder / "out.json").read_text())


@pytest.mark.slow
def test_jax_export_has_the_serving_signature(served):
    _, results = served
    assert results["input"] == ["images", "uint8", [None, None, None, 3]]
    for outputs in results["outputs"].values():
        dtypes = {name: value[0] for name, value in outputs.items()}
        assert dtypes == {
            "probabilities": "float32",
            "class_id": "int64",
            "class_name": "string",
        }
    assert results["leaked"] == []


@pytest.mark.slow
def test_jax_export_matches_the_keras_model(served, classifier):
    images, results = served
    for key, batch in images.items():
        outputs = results["outputs"][key]
        probabilities = np.array(outputs["probabilities"][1], np.float32)
        expected = keras_reference(classifier, batch)
        assert probabilities.shape == (len(batch), len(CLASS_NAMES))
        np.testing.assert_allclose(probabilities, expected, atol=1e-4, rtol=0)
        class_id = outputs["class_id"][1]
        assert class_id == expected.argmax(-1).tolist()
        assert outputs["class_name"][1] == [CLASS_NAMES[i] for i in class_id]


@pytest.mark.slow
def test_jax_export_is_read_by_the_predictor(jax_export, classifier):
    from keras_resnet.inference import load_predictor

    metadata = json.loads((jax_export / "assets.extra/keras_resnet.json").read_text())
    assert metadata["keras_backend"] == "jax"
    assert metadata["class_names"] == CLASS_NAMES
    predictor = load_predictor(jax_export.parent)
    assert predictor.path == jax_export
    assert predictor.image_size == (IMAGE_SIZE, IMAGE_SIZE)
    images = uint8_images(2, 20, 30, 13)
    np.testing.assert_allclose(
        predictor.predict(images), keras_reference(classifier, images), atol=1e-4
    )


@pytest.mark.slow
def test_onnx_on_jax_is_refused_in_one_line(jax_exports):
    root, done = jax_exports
    assert done.stdout.splitlines()[0] == "EXIT 1"
    refused = done.stderr.split("--\n", 1)[0]
    assert [line for line in refused.splitlines() if line.strip()] == [
        "Error: ONNX export needs the TensorFlow backend, since tf2onnx converts "
        "TensorFlow graphs (set KERAS_BACKEND=tensorflow); the backend is jax"
    ]
    assert list((root / "onnx").iterdir()) == []

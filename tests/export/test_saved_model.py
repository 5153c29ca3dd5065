"""The SavedModel export, checked from outside the package."""

import json
import os
import pathlib
import site
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_resnet.export import export_model
from keras_resnet.inference import load_predictor

from .helpers import (
    CLASS_NAMES,
    IMAGE_SIZE,
    build_classifier,
    keras_reference,
    uint8_images,
    write_run_dir,
)

# Runs in a fresh interpreter where keras and keras_resnet cannot be imported
# at all (see keras_free_path), as on a serving host with TensorFlow only:
# serves the inputs, then runs TensorFlow's `saved_model_cli show --all` (the
# console script's own main()) on the export.
SERVE_SCRIPT = """
import contextlib
import importlib.util
import io
import sys
import numpy as np
import tensorflow as tf
from tensorflow.python.tools import saved_model_cli

export_dir, inputs_file, outputs_file, shown_file = sys.argv[1:]
serve = tf.saved_model.load(export_dir).signatures["serving_default"]
inputs = np.load(inputs_file)
results = {}
for key in inputs.files:
    outputs = serve(images=tf.constant(inputs[key]))
    for name, value in outputs.items():
        array = value.numpy()
        if value.dtype == tf.string:
            array = np.array([item.decode() for item in array])
        results[f"{key}/{name}"] = array
        results[f"{key}/{name}/dtype"] = np.array(value.dtype.name)
for name in ("keras", "keras_resnet"):
    if importlib.util.find_spec(name) is not None:
        sys.exit(f"{name} is importable")
leaked = [name for name in sys.modules if name.split(".")[0] in ("keras", "keras_resnet")]
if leaked:
    sys.exit(f"imported: {leaked[:5]}")
np.savez(outputs_file, **results)

sys.argv = ["saved_model_cli", "show", "--dir", export_dir, "--all"]
shown = io.StringIO()
with contextlib.redirect_stdout(shown):
    try:
        saved_model_cli.main()
    except SystemExit as stop:
        if stop.code:
            raise
with open(shown_file, "w") as file:
    file.write(shown.getvalue())
"""

# Distributions hidden from the child: Keras (TensorFlow imports it whenever
# it is installed) and this package (an editable install, via .pth files).
HIDDEN = ("keras", "keras-", "keras3_resnet", "__editable__", "tf_keras")


def keras_free_path(folder):
    """A folder linking every site-packages entry except Keras and this package."""
    folder.mkdir()
    for site_packages in site.getsitepackages():
        for entry in pathlib.Path(site_packages).iterdir():
            hidden = entry.name.startswith(HIDDEN) or entry.suffix == ".pth"
            if not hidden and not (folder / entry.name).exists():
                (folder / entry.name).symlink_to(entry)
    return folder


IMAGES = {
    "small": uint8_images(3, IMAGE_SIZE, IMAGE_SIZE, 1),
    "large": uint8_images(2, 29, 23, 2),
}


@pytest.fixture(scope="module")
def served(saved_model_base, tmp_path_factory):
    """SERVE_SCRIPT's outputs on ``IMAGES`` and its saved_model_cli text."""
    tmp_path = tmp_path_factory.mktemp("served")
    np.savez(tmp_path / "inputs.npz", **IMAGES)
    script = tmp_path / "serve.py"
    script.write_text(SERVE_SCRIPT)
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": str(keras_free_path(tmp_path / "site")),
    }
    # -S: no site-packages and no .pth files, only the PYTHONPATH above.
    done = subprocess.run(
        [
            sys.executable,
            "-S",
            str(script),
            str(saved_model_base / "1"),
            str(tmp_path / "inputs.npz"),
            str(tmp_path / "outputs.npz"),
            str(tmp_path / "shown.txt"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return np.load(tmp_path / "outputs.npz"), (tmp_path / "shown.txt").read_text()


@pytest.mark.slow
def test_fresh_tensorflow_process_matches_keras(classifier, served):
    outputs, _ = served
    for key, batch in IMAGES.items():
        probabilities = outputs[f"{key}/probabilities"]
        expected = keras_reference(classifier, batch)
        assert probabilities.shape == (len(batch), len(CLASS_NAMES))
        np.testing.assert_allclose(probabilities, expected, atol=1e-5, rtol=0)
        assert str(outputs[f"{key}/probabilities/dtype"]) == "float32"
        assert str(outputs[f"{key}/class_id/dtype"]) == "int64"
        class_id = outputs[f"{key}/class_id"]
        np.testing.assert_array_equal(class_id, expected.argmax(-1))
        names = outputs[f"{key}/class_name"].tolist()
        assert names == [CLASS_NAMES[i] for i in class_id]


def test_probabilities_are_not_trivial(classifier):
    """Guards the comparison above: a briefly trained model is not uniform."""
    probabilities = keras_reference(classifier, uint8_images(8, IMAGE_SIZE, IMAGE_SIZE))
    assert probabilities.max() - probabilities.min() > 0.05


def test_saved_model_cli_lists_the_signature(served):
    # TensorFlow's saved_model_cli, run by the TensorFlow-only process.
    _, shown = served
    signature = shown.split("signature_def['serving_default']:")[1]
    signature = signature.split("signature_def[")[0]
    assert (
        "inputs['images'] tensor_info:\n        dtype: DT_UINT8\n        shape: (-1, -1, -1, 3)"
        in signature
    )
    assert (
        "outputs['probabilities'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 3)"
        in signature
    )
    assert (
        "outputs['class_id'] tensor_info:\n        dtype: DT_INT64\n        shape: (-1)"
        in signature
    )
    assert (
        "outputs['class_name'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)"
        in signature
    )


@pytest.fixture(scope="module")
def signature(saved_model_base):
    return tf.saved_model.load(str(saved_model_base / "1")).signatures[
        "serving_default"
    ]


def test_signature_rejects_float_images(signature):
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match="expected to be a uint8 tensor but is a float tensor",
    ):
        signature(images=tf.zeros((1, 32, 32, 3), tf.float32))


@pytest.mark.parametrize("shape", [(32, 32, 3), (1, 32, 32, 1)])
def test_signature_rejects_wrong_rank_or_channels(signature, shape):
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"not compatible with expected shape \[\?,\?,\?,3\]",
    ):
        signature(images=tf.zeros(shape, tf.uint8))


def test_metadata_names_classes_and_size(saved_model_base):
    metadata_file = saved_model_base / "1" / "assets.extra" / "keras_resnet.json"
    metadata = json.loads(metadata_file.read_text())
    assert metadata["class_names"] == CLASS_NAMES
    assert metadata["image_size"] == [IMAGE_SIZE, IMAGE_SIZE]
    assert metadata["resize"] == "bilinear, no antialiasing"
    assert metadata["keras_backend"] == "tensorflow"
    assert metadata["keras_version"] == keras.__version__


def test_bare_model_signature_takes_pixels_of_the_model_size(saved_model_base):
    loaded = tf.saved_model.load(str(saved_model_base / "1"))
    assert sorted(loaded.signatures) == ["classify_pixels", "serving_default"]
    spec = loaded.signatures["classify_pixels"].structured_input_signature[1]
    assert [(s.dtype, s.shape.as_list()) for s in spec.values()] == [
        (tf.float32, [None, IMAGE_SIZE, IMAGE_SIZE, 3])
    ]


@pytest.mark.slow
def test_new_version_sits_beside_the_old_and_predict_uses_the_highest(
    run_dir, saved_model_base, classifier
):
    written = export_model(run_dir, saved_model_base, version=7)
    assert written == saved_model_base / "7"
    assert (saved_model_base / "1" / "saved_model.pb").is_file()
    assert (saved_model_base / "7" / "saved_model.pb").is_file()
    assert sorted(p.name for p in saved_model_base.iterdir()) == ["1", "7"]
    predictor = load_predictor(saved_model_base)
    assert predictor.path == saved_model_base / "7"
    assert predictor.class_names == CLASS_NAMES
    images = uint8_images(2, 40, 28, 3)
    np.testing.assert_allclose(
        predictor.predict(images), keras_reference(classifier, images), atol=1e-5
    )


@pytest.mark.slow
def test_mixed_precision_model_serves_float32(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_classifier()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    run = write_run_dir(tmp_path / "run", model)
    export = export_model(run, tmp_path / "export")
    serve = tf.saved_model.load(str(export)).signatures["serving_default"]
    assert serve.structured_outputs["probabilities"].dtype == tf.float32
    images = uint8_images(2, IMAGE_SIZE, IMAGE_SIZE)
    probabilities = serve(images=tf.constant(images))["probabilities"]
    assert probabilities.dtype == tf.float32
    expected = keras_reference(keras.saving.load_model(run / "model.keras"), images)
    np.testing.assert_allclose(probabilities.numpy(), expected, atol=1e-3)
    np.testing.assert_allclose(probabilities.numpy().sum(-1), 1.0, atol=1e-3)

"""export_model: formats, the overwrite guard, atomic writes, bad input."""

import json

import keras
import numpy as np
import pytest

from keras_resnet import export as export_module
from keras_resnet.errors import KerasResNetError, RunDirectoryError
from keras_resnet.export import export_model
from keras_resnet.inference import (
    is_augmentation,
    load_classifier,
    load_predictor,
    strip_augmentation,
)

from .helpers import CLASS_NAMES, keras_reference, uint8_images


def leftovers(folder):
    """Temporary siblings an export may create (must be gone afterwards)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_keras_format_round_trips_weights_and_class_names(
    classifier, run_dir, tmp_path
):
    written = export_model(run_dir, tmp_path / "out", format="keras")
    assert written == tmp_path / "out"
    assert sorted(p.name for p in written.iterdir()) == ["dataset.json", "model.keras"]
    reloaded = keras.saving.load_model(written / "model.keras")
    for expected, actual in zip(classifier.weights, reloaded.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(expected), np.asarray(actual))
    assert (
        json.loads((written / "dataset.json").read_text())["class_names"] == CLASS_NAMES
    )
    assert leftovers(tmp_path) == []


def test_existing_non_empty_target_needs_overwrite(run_dir, tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("old export")
    with pytest.raises(RunDirectoryError, match="not empty: .*out"):
        export_model(run_dir, target, format="keras")
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]
    export_model(run_dir, target, format="keras", overwrite=True)
    assert sorted(p.name for p in target.iterdir()) == ["dataset.json", "model.keras"]
    assert leftovers(tmp_path) == []


def test_empty_existing_target_is_used_without_overwrite(run_dir, tmp_path):
    (tmp_path / "out").mkdir()
    export_model(run_dir, tmp_path / "out", format="keras")
    assert (tmp_path / "out" / "model.keras").is_file()


def test_failed_export_leaves_old_target_untouched(run_dir, tmp_path, monkeypatch):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("old export")

    def half_write(model, class_names, image_size, folder):
        (folder / "model.keras").write_text("partial")
        raise OSError("disk full")

    monkeypatch.setitem(export_module._WRITERS, "keras", half_write)
    with pytest.raises(OSError, match="disk full"):
        export_model(run_dir, target, format="keras", overwrite=True)
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]
    assert leftovers(tmp_path) == []


def test_failed_export_to_new_target_leaves_nothing(run_dir, tmp_path, monkeypatch):
    def fail(model, class_names, image_size, folder):
        raise OSError("disk full")

    monkeypatch.setitem(export_module._WRITERS, "keras", fail)
    with pytest.raises(OSError):
        export_model(run_dir, tmp_path / "out", format="keras")
    assert list(tmp_path.iterdir()) == []


def test_run_dir_without_model_says_so(tmp_path):
    (tmp_path / "dataset.json").write_text("{}")
    with pytest.raises(RunDirectoryError) as caught:
        export_model(tmp_path, tmp_path / "out")
    message = str(caught.value)
    assert "\n" not in message
    assert str(tmp_path) in message and "model.keras" in message
    assert not (tmp_path / "out").exists()


def test_target_that_is_a_file_is_refused(run_dir, tmp_path):
    (tmp_path / "out").write_text("x")
    with pytest.raises(RunDirectoryError, match="not a directory"):
        export_model(run_dir, tmp_path / "out", format="keras", overwrite=True)


@pytest.mark.parametrize(
    ("kwargs", "ending"),
    [
        ({"format": "tflite"}, "Received: format='tflite'"),
        ({"version": -1}, "Received: version=-1"),
        ({"version": "1"}, "Received: version='1'"),
        ({"version": True}, "Received: version=True"),
        ({"format": "keras", "version": 1}, "Received: format='keras'"),
    ],
)
def test_bad_arguments_raise_value_error(run_dir, tmp_path, kwargs, ending):
    with pytest.raises(ValueError) as caught:
        export_model(run_dir, tmp_path / "out", **kwargs)
    assert str(caught.value).endswith(ending)
    assert not (tmp_path / "out").exists()


def test_keras_file_without_dataset_json_gets_numbered_classes(classifier, tmp_path):
    classifier.save(tmp_path / "alone.keras")
    model, class_names = load_classifier(tmp_path / "alone.keras")
    assert class_names == ["0", "1", "2"]
    assert model is not None


def test_dataset_json_with_wrong_class_count_is_refused(classifier, tmp_path):
    classifier.save(tmp_path / "model.keras")
    (tmp_path / "dataset.json").write_text(json.dumps({"class_names": ["a", "b"]}))
    with pytest.raises(RunDirectoryError, match="2 class_names .* 3 outputs"):
        load_classifier(tmp_path)


def test_missing_onnx_extra_is_reported(run_dir, tmp_path, monkeypatch):
    def no_onnx():
        raise KerasResNetError("ONNX export needs the onnx extra")

    monkeypatch.setattr(export_module, "_import_onnx", no_onnx)
    with pytest.raises(KerasResNetError, match="onnx extra"):
        export_model(run_dir, tmp_path / "out", format="onnx")
    assert list(tmp_path.iterdir()) == []


def test_augmentation_layers_are_stripped(classifier):
    augment = keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal"),
            keras.layers.RandomTranslation(0.1, 0.1),
        ],
        name="augmentation",
    )
    pixels = keras.Input((32, 32, 3))
    inline = keras.layers.RandomFlip("vertical", name="flip")(pixels)
    training_model = keras.Model(pixels, classifier(augment(inline)))
    assert is_augmentation(augment)
    assert not is_augmentation(classifier.get_layer("normalization"))

    stripped = strip_augmentation(training_model)
    assert not any(is_augmentation(layer) for layer in stripped.layers)
    images = uint8_images(4, 32, 32).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(stripped.predict(images, verbose=0)),
        keras_reference(classifier, images.astype(np.uint8)),
        atol=1e-6,
    )
    assert strip_augmentation(classifier) is classifier


def test_export_of_training_wrapper_contains_no_augmentation(classifier, tmp_path):
    pixels = keras.Input((32, 32, 3))
    flipped = keras.layers.RandomFlip("horizontal", name="random_flip")(pixels)
    keras.Model(pixels, classifier(flipped)).save(tmp_path / "train.keras")
    written = export_model(tmp_path / "train.keras", tmp_path / "out", format="keras")
    exported = keras.saving.load_model(written / "model.keras")
    class_names = [type(layer).__name__ for layer in exported.layers]
    assert "RandomFlip" not in class_names and "Identity" in class_names


def test_predictors_agree_across_forms(classifier, run_dir, tmp_path):
    keras_export = export_model(run_dir, tmp_path / "keras", format="keras")
    images = uint8_images(3, 48, 40, 5)
    expected = keras_reference(classifier, images)
    for source in (run_dir, run_dir / "model.keras", keras_export):
        predictor = load_predictor(source)
        assert predictor.class_names == CLASS_NAMES
        assert predictor.image_size == (32, 32)
        probabilities = predictor.predict(images)
        assert probabilities.dtype == np.float32
        np.testing.assert_allclose(probabilities, expected, atol=1e-5)


def test_saved_model_predictor(classifier, saved_model_base):
    predictor = load_predictor(saved_model_base / "1")
    images = uint8_images(5, 30, 36, 6)
    probabilities = predictor.predict(images, batch_size=2)
    assert probabilities.shape == (5, 3) and probabilities.dtype == np.float32
    np.testing.assert_allclose(
        probabilities, keras_reference(classifier, images), atol=1e-5
    )


@pytest.mark.parametrize(
    "images",
    [np.zeros((1, 32, 32, 3), np.float32), np.zeros((32, 32, 3), np.uint8)],
)
def test_predict_rejects_non_uint8_nhwc(run_dir, images):
    predictor = load_predictor(run_dir)
    with pytest.raises(ValueError, match=r"Received: images=<.*>$"):
        predictor.predict(images)


def test_load_predictor_on_empty_dir_says_what_it_expected(tmp_path):
    with pytest.raises(RunDirectoryError, match="no model.keras and no saved_model.pb"):
        load_predictor(tmp_path)
    with pytest.raises(RunDirectoryError, match="No such file"):
        load_predictor(tmp_path / "missing")


PLAIN_KERAS_LOAD = """
import sys
import keras
import numpy as np

model = keras.saving.load_model(sys.argv[1], compile=False)
assert not [name for name in sys.modules if name.startswith("keras_resnet")]
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
"""


def test_keras_format_loads_in_plain_keras_without_the_package(
    classifier, run_dir, tmp_path
):
    import subprocess
    import sys
    import zipfile

    written = export_model(run_dir, tmp_path / "out", format="keras")
    with zipfile.ZipFile(written / "model.keras") as archive:
        config = archive.read("config.json").decode()
    assert "keras_resnet" not in config
    assert config.count('"class_name": "BatchNormalization"') > 0
    images = uint8_images(4, 32, 32, 3).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    script = tmp_path / "load.py"
    script.write_text(PLAIN_KERAS_LOAD)
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            str(written / "model.keras"),
            str(tmp_path / "images.npy"),
            str(tmp_path / "probabilities.npy"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(
        np.load(tmp_path / "probabilities.npy"),
        classifier.predict(images, verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )

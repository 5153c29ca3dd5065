"""export_model: formats, the overwrite guard, atomic writes, bad input."""

import json

import keras
import numpy as np
import pytest
from file_checks import checksums

from keras_resnet import export as export_module
from keras_resnet.errors import KerasResNetError, RunDirectoryError
from keras_resnet.export import export_model
from keras_resnet.inference import (
    is_augmentation,
    load_classifier,
    load_predictor,
    pad_to_equal_batches,
    strip_augmentation,
)

from .helpers import CLASS_NAMES, IMAGE_SIZE, keras_reference, uint8_images


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
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "dataset.json").write_text("{}")
    with pytest.raises(RunDirectoryError) as caught:
        export_model(tmp_path / "run", tmp_path / "out")
    message = str(caught.value)
    assert "\n" not in message
    assert str(tmp_path / "run") in message and "model.keras" in message
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


@pytest.mark.parametrize(
    ("backend", "format", "message"),
    [
        ("torch", "saved_model", "SavedModel export needs the TensorFlow or JAX"),
        ("jax", "onnx", "ONNX export needs the TensorFlow backend"),
    ],
)
def test_format_the_backend_cannot_write_is_refused_before_loading(
    run_dir, tmp_path, monkeypatch, backend, format, message
):
    def no_loading(source):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(keras.backend, "backend", lambda: backend)
    monkeypatch.setattr("keras_resnet.inference.load_classifier", no_loading)
    with pytest.raises(KerasResNetError, match=message) as caught:
        export_model(run_dir, tmp_path / "out", format=format)
    assert str(caught.value).endswith(f"the backend is {backend}")
    assert list(tmp_path.iterdir()) == []


def test_augmentation_layers_are_stripped(classifier):
    augment = keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal"),
            keras.layers.RandomTranslation(0.1, 0.1),
        ],
        name="augmentation",
    )
    pixels = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))
    inline = keras.layers.RandomFlip("vertical", name="flip")(pixels)
    training_model = keras.Model(pixels, classifier(augment(inline)))
    assert is_augmentation(augment)
    assert not is_augmentation(classifier.get_layer("normalization"))

    stripped = strip_augmentation(training_model)
    assert not any(is_augmentation(layer) for layer in stripped.layers)
    images = uint8_images(4, IMAGE_SIZE, IMAGE_SIZE).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(stripped.predict(images, verbose=0)),
        keras_reference(classifier, images.astype(np.uint8)),
        atol=1e-6,
    )
    assert strip_augmentation(classifier) is classifier


def test_export_of_training_wrapper_contains_no_augmentation(classifier, tmp_path):
    pixels = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))
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
        assert predictor.image_size == (IMAGE_SIZE, IMAGE_SIZE)
        probabilities = predictor.predict(images)
        assert probabilities.dtype == np.float32
        np.testing.assert_allclose(probabilities, expected, atol=1e-5)


@pytest.mark.parametrize(
    "count, batch_size, size",
    [(1000, 256, 250), (1001, 256, 251), (7, 3, 3), (512, 256, 256), (1, 256, 1)],
)
def test_equal_batches_pad_fewer_rows_than_there_are_batches(count, batch_size, size):
    inputs = np.arange(count)
    padded, got = pad_to_equal_batches(inputs, batch_size)
    batches = -(-count // batch_size)
    assert got == size and len(padded) == size * batches
    assert 0 <= len(padded) - count < batches
    np.testing.assert_array_equal(padded[:count], inputs)
    assert (padded[count:] == inputs[-1]).all()


def test_keras_predictor_traces_once_when_the_last_batch_would_be_short(
    classifier, run_dir
):
    predictor = load_predictor(run_dir)
    images = uint8_images(7, IMAGE_SIZE, IMAGE_SIZE, 8)
    probabilities = predictor.predict(images, batch_size=3)
    assert probabilities.shape == (7, 3)
    np.testing.assert_allclose(
        probabilities, keras_reference(classifier, images), atol=1e-5
    )
    assert predictor.model.predict_function.experimental_get_tracing_count() == 1


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


def test_keras_format_names_only_plain_keras_classes(run_dir, tmp_path):
    # Loading this file with plain Keras in a process that cannot import the
    # package, and matching the classifier there, is checked on a real run's
    # keras-format export in tests/cli/test_readme_quickstart.py (one process
    # loads it with the run's own .keras files).
    import zipfile

    written = export_model(run_dir, tmp_path / "out", format="keras")
    with zipfile.ZipFile(written / "model.keras") as archive:
        config = archive.read("config.json").decode()
    assert "keras_resnet" not in config
    assert config.count('"class_name": "BatchNormalization"') > 0


# -- the target never overlaps the source; nothing outside it is deleted -------


@pytest.fixture
def run_copy(run_dir, tmp_path):
    """A private copy of the run (in ``tmp_path/parent``) with a neighbour."""
    import shutil

    parent = tmp_path / "parent"
    shutil.copytree(run_dir, parent / "run")
    (parent / "notes.txt").write_text("unrelated file beside the run")
    return parent / "run"


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("run", "run", "Export target .*run is the source .*run;"),
        ("run", ".", "Export target .*parent contains the source .*run;"),
        ("run/model.keras", "run", "Export target .*run contains the source"),
        ("run", "run/export", "Export target .*export is inside the source .*run;"),
    ],
)
def test_overlapping_target_is_refused_even_with_overwrite(
    run_copy, source, target, message
):
    parent = run_copy.parent
    before = checksums(parent)
    with pytest.raises(RunDirectoryError, match=message):
        export_model(parent / source, parent / target, format="keras", overwrite=True)
    assert checksums(parent) == before
    assert sorted(p.name for p in parent.iterdir()) == ["notes.txt", "run"]


def test_overlap_through_a_symlink_is_refused(run_copy):
    parent = run_copy.parent
    (parent.parent / "alias").symlink_to(run_copy)
    before = checksums(parent)
    with pytest.raises(RunDirectoryError, match="is the source"):
        export_model(run_copy, parent.parent / "alias", format="keras", overwrite=True)
    assert checksums(parent) == before


def test_export_beside_the_run_leaves_the_run_alone(run_copy):
    parent = run_copy.parent
    before = checksums(parent)
    export_model(run_copy, parent / "exported", format="keras")
    after = checksums(parent)
    assert {k: v for k, v in after.items() if not k.startswith("exported")} == before
    assert sorted(p.name for p in parent.iterdir()) == ["exported", "notes.txt", "run"]


def test_failed_export_into_new_folders_removes_what_it_created(
    run_dir, tmp_path, monkeypatch
):
    def fail(model, class_names, image_size, folder):
        (folder / "model.keras").write_text("partial")
        raise OSError("disk full")

    monkeypatch.setitem(export_module._WRITERS, "saved_model", fail)
    with pytest.raises(OSError, match="disk full"):
        export_model(run_dir, tmp_path / "a" / "b" / "serving", version=1)
    assert list(tmp_path.iterdir()) == []


# -- permissions ------------------------------------------------------------------


def modes(folder):
    """Relative path -> permission bits of ``folder`` and everything in it."""
    return {
        str(path.relative_to(folder)): path.stat().st_mode & 0o777
        for path in [folder, *folder.rglob("*")]
    }


@pytest.mark.parametrize(
    ("umask", "directory", "file"), [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)]
)
def test_export_permissions_follow_the_umask(run_dir, tmp_path, umask, directory, file):
    import os

    previous = os.umask(umask)
    try:
        keras_export = export_model(run_dir, tmp_path / "keras", format="keras")
        saved_model = export_model(run_dir, tmp_path / "serving", version=1)
    finally:
        os.umask(previous)
    for written in (keras_export, saved_model, saved_model.parent):
        for name, mode in modes(written).items():
            expected = directory if (written / name).is_dir() else file
            assert mode == expected, (written / name, oct(mode))


# -- a SavedModel as the source ---------------------------------------------------


def test_saved_model_source_is_copied_into_a_versioned_layout(
    saved_model_base, tmp_path
):
    written = export_model(saved_model_base, tmp_path / "serving", version=7)
    assert written == tmp_path / "serving" / "7"
    assert checksums(written) == checksums(saved_model_base / "1")
    predictor = load_predictor(tmp_path / "serving")
    assert predictor.class_names == CLASS_NAMES
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("format", ["keras", "onnx"])
def test_saved_model_source_to_another_format_is_refused(
    saved_model_base, tmp_path, format
):
    with pytest.raises(KerasResNetError, match="can only be exported as saved_model"):
        export_model(saved_model_base, tmp_path / "out", format=format)
    assert list(tmp_path.iterdir()) == []


# -- files that are not Keras models ------------------------------------------------


def test_zip_without_config_json_is_not_a_keras_model_file(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "model.keras", "w") as archive:
        archive.writestr("metadata.json", "{}")
    with pytest.raises(RunDirectoryError) as caught:
        load_classifier(tmp_path / "model.keras")
    assert str(caught.value) == (
        f"Cannot load {tmp_path / 'model.keras'}: not a Keras model file "
        "(the zip archive has no config.json)"
    )


def test_truncated_keras_file_says_truncated(run_dir, tmp_path):
    data = (run_dir / "model.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(RunDirectoryError) as caught:
        load_predictor(tmp_path / "cut.keras")
    message = str(caught.value)
    assert message.startswith(f"Cannot load {tmp_path / 'cut.keras'}: not a Keras")
    assert "truncated or corrupt" in message and "not found" not in message.lower()

"""``keras-resnet evaluate/predict MODEL --weights NAME``: pretrained weights.

A fresh process registers a tiny test entry beside the shipped ones (a
two-class ResNet-8 at 1/8 width, classes cat and dog: seconds, where the
shipped weights need the CIFAR-10 test set) and then runs the command line
(``cli_process.CLI_CALLS``: several calls in one process); results are
checked against the same model computed in this process.
"""

import json

import keras
import numpy as np
import pytest
from cli_process import cli_calls
from PIL import Image

import keras_resnet
from keras_resnet.cli.predict import top_classes
from keras_resnet.models.pretrained import PRETRAINED, file_sha256

pytestmark = pytest.mark.slow

ARGUMENTS = {
    "blocks_per_stage": 1,
    "width_multiplier": 0.125,
    "use_skip": True,
    "normalization": "batch",
}
CLASSES = ["cat", "dog"]
MEAN, STD = [120.0, 115.0, 100.0], [60.0, 55.0, 50.0]
# Registers ("mini_resnet", "pets") from the JSON file named by the
# environment, then CLI_CALLS runs the command line.
REGISTER = """
import json, os, pathlib
from keras_resnet.models import pretrained

spec = json.loads(pathlib.Path(os.environ["TEST_PRETRAINED"]).read_text())
pretrained.WEIGHTS_DIR = pathlib.Path(spec.pop("folder"))
pretrained.PRETRAINED["mini_resnet", "pets"] = pretrained.PretrainedWeights(**spec)
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The weights, their entry, a cat/dog image folder and two PNGs."""
    root = tmp_path_factory.mktemp("pretrained_cli")
    keras.utils.set_random_seed(5)
    model = keras_resnet.build_model("mini_resnet", num_classes=2, **ARGUMENTS)
    weights = root / "mini_pets.weights.h5"
    model.save_weights(weights)
    spec = {
        "folder": str(root),
        "model": "mini_resnet",
        "name": "pets",
        "file": weights.name,
        "sha256": file_sha256(weights),
        "mean": MEAN,
        "std": STD,
        "class_names": CLASSES,
        "arguments": ARGUMENTS,
        "test_accuracy": 0.5,
        "source": "tests/cli/test_pretrained_cli.py",
    }
    (root / "entry.json").write_text(json.dumps(spec))
    rng = np.random.default_rng(0)
    test_images, test_labels = [], []
    for split, count in (("train", 2), ("test", 6)):
        for label, name in enumerate(CLASSES):
            folder = root / "pets" / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{index}.png")
                if split == "test":
                    test_images.append(pixels)
                    test_labels.append(label)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 256, (40, 36, 3), dtype=np.uint8)).save(
            root / name
        )
    return root, model, np.stack(test_images), np.array(test_labels)


def run_with_entry(root, *calls):
    """``keras-resnet CALL`` for each call, in one new process with the entry."""
    return cli_calls(
        *calls,
        cwd=root,
        env={"TEST_PRETRAINED": str(root / "entry.json")},
        prelude=REGISTER,
    )


def probabilities(model, pixels) -> np.ndarray:
    """The entry's model on raw pixels: normalize, then the saved model."""
    normalized = (np.asarray(pixels, "float32") - MEAN) / np.array(STD)
    return model.predict(normalized, verbose=0)


def one_error(done, code) -> str:
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


@pytest.fixture(scope="module")
def results(setup):
    """Every command of this file, in one new process."""
    root, *_ = setup
    return run_with_entry(
        root,
        ["evaluate", "mini_resnet", "--weights", "pets", "--dataset", "pets", "--json"],
        ["predict", "mini_resnet", "--weights", "pets", "a.png", "b.png", "--json"],
        ["evaluate", "mini_resnet", "--weights", "pets", "--dataset", "pets"],
        ["evaluate", "mini_resnet", "--weights", "pets", "--dataset", "synthetic"],
        ["evaluate", "mini_resnet", "--weights", "imagenet", "--dataset", "pets"],
        ["predict", "resnet19", "--weights", "pets", "a.png"],
        ["predict", "pets", "--weights", "pets", "a.png"],
        ["predict", "mini_resnet", "a.png"],
    )


def test_evaluate_with_weights_matches_this_process(setup, results):
    _, model, images, labels = setup
    done = results[0]
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    predicted = probabilities(model, images).argmax(-1)
    assert report["num_examples"] == len(labels) == 12
    assert report["accuracy"] == float((predicted == labels).mean())
    assert report["class_names"] == CLASSES
    expected = np.zeros((2, 2), int)
    np.add.at(expected, (labels, predicted), 1)
    assert report["confusion_matrix"] == expected.tolist()


def test_predict_with_weights_matches_this_process(setup, results):
    root, model, *_ = setup
    done = results[1]
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert list(report) == ["a.png", "b.png"]
    for name, classes in report.items():
        from keras_resnet.data import read_image
        from keras_resnet.inference import resize_images

        pixels = resize_images(read_image(root / name)[None], (32, 32)).numpy()
        expected = top_classes(probabilities(model, pixels)[0], CLASSES, 5)
        assert [c["class"] for c in classes] == [c["class"] for c in expected]
        np.testing.assert_allclose(
            [c["probability"] for c in classes],
            [c["probability"] for c in expected],
            atol=1e-6,
        )


def test_evaluate_with_weights_names_them_in_the_report(setup, results):
    _, model, images, labels = setup
    done = results[2]
    assert done.returncode == 0, done.stderr
    accuracy = (probabilities(model, images).argmax(-1) == labels).mean()
    assert done.stdout.splitlines()[:2] == [
        "mini_resnet --weights pets on the test split (12 images):",
        f"  accuracy {accuracy:.4f}  loss {json.loads(results[0].stdout)['loss']:.4f}",
    ]


def test_a_dataset_with_other_classes_is_refused_naming_both(results):
    line = one_error(results[3], 1)
    assert line.startswith(
        "Error: The weights 'pets' of mini_resnet know the classes cat, dog but "
        "the dataset synthetic has "
    )
    assert line.endswith("; evaluate them on a dataset with their classes")


def test_an_unknown_weights_name_is_refused_naming_the_choices(results):
    # The names that ship and the one this module registers, sorted.
    shipped = [name for model, name in PRETRAINED if model == "mini_resnet"]
    choices = ", ".join(repr(name) for name in sorted([*shipped, "pets"]))
    assert one_error(results[4], 1) == (
        "Error: weights must be None, the path of an existing weights file, or a "
        f"pretrained name of 'mini_resnet' ({choices}). Received: weights='imagenet'"
    )


def test_an_unknown_model_is_refused_naming_the_models(results):
    line = one_error(results[5], 1)
    assert line.startswith("Error: Unknown model 'resnet19'")
    assert "mini_resnet" in line


def test_a_path_with_weights_is_refused(results):
    assert one_error(results[6], 1) == (
        "Error: With weights='pets', model must be a registered model name, not a "
        "path (a run directory or model file already holds its weights). "
        "Received: model='pets'"
    )


def test_a_model_name_without_weights_is_still_a_missing_path(results):
    done = results[7]
    assert done.returncode == 2
    assert "Path 'mini_resnet' does not exist" in done.stderr

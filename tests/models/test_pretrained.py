"""``weights="<name>"``: pretrained weights shipped in the package.

The mechanism is tested on a tiny entry each test registers: a seeded
ResNet-8 at 1/8 width with non-trivial batch-norm statistics, saved to a
temporary ``.weights.h5`` that the package folder is pointed at. The weights
that ship (``mini_resnet`` ``cifar10``, from the ResNet-20 reference run) are
checked as they are: every file's sha256, and on the shared CIFAR-10 copy
their documented test accuracy through ``keras-resnet evaluate``.
"""

import contextlib
import fnmatch
import io
import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from cli_process import keras_resnet as run_cli
from jax_env import FAST_XLA
from tiny import assert_same_weights

import keras_resnet
from keras_resnet.errors import RunDirectoryError
from keras_resnet.inference import load_classifier
from keras_resnet.models import pretrained
from keras_resnet.models.pretrained import (
    PRETRAINED,
    PretrainedWeights,
    file_sha256,
    weights_path,
    write_pretrained,
)
from keras_resnet.run_layout import DATASET_FILE, METRICS_FILE, read_json

REPO = pathlib.Path(__file__).resolve().parents[2]
# The names mini_resnet ships with (the tests add their own beside them).
SHIPPED_NAMES = sorted(name for model, name in PRETRAINED if model == "mini_resnet")


def mini_resnet_choices(*added: str) -> str:
    """The choices a refusal names: the shipped names and ``added``."""
    return ", ".join(repr(name) for name in sorted([*SHIPPED_NAMES, *added]))


ARGUMENTS = {
    "blocks_per_stage": 1,
    "width_multiplier": 0.125,
    "use_skip": True,
    "normalization": "batch",
}
MEAN = (125.3, 122.9, 113.9)
STD = (63.0, 62.1, 66.7)
CLASSES = tuple(f"class{i}" for i in range(10))


def seeded_model(**kwargs) -> keras.Model:
    """The test weights' model: seeded, moving statistics away from 0 and 1."""
    keras.utils.set_random_seed(7)
    model = keras_resnet.build_model("mini_resnet", **{**ARGUMENTS, **kwargs})
    rng = np.random.default_rng(7)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights(
                [
                    gamma + rng.uniform(-0.3, 0.3, gamma.shape).astype("float32"),
                    rng.uniform(-0.5, 0.5, beta.shape).astype("float32"),
                    rng.uniform(-1, 1, mean.shape).astype("float32"),
                    rng.uniform(0.5, 2, variance.shape).astype("float32"),
                ]
            )
    return model


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> pathlib.Path:
    """The test weights, saved once for the module."""
    path = tmp_path_factory.mktemp("weights") / "mini_test.weights.h5"
    seeded_model().save_weights(path)
    return path


@pytest.fixture
def entry(weights_file, monkeypatch) -> PretrainedWeights:
    """("mini_resnet", "testset") registered, the package folder at its file."""
    registered = PretrainedWeights(
        model="mini_resnet",
        name="testset",
        file=weights_file.name,
        sha256=file_sha256(weights_file),
        mean=MEAN,
        std=STD,
        class_names=CLASSES,
        arguments=ARGUMENTS,
        test_accuracy=0.5,
        source="tests/models/test_pretrained.py",
    )
    monkeypatch.setitem(PRETRAINED, ("mini_resnet", "testset"), registered)
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", weights_file.parent)
    return registered


@pytest.fixture(scope="module")
def reference(weights_file) -> keras.Model:
    """The model the file was saved from, loaded from it."""
    model = keras_resnet.build_model("mini_resnet", **ARGUMENTS)
    model.load_weights(weights_file)
    return model


def raw_pixels(count=4, size=(32, 32)) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (count, *size, 3)).astype("float32")


def normalized(pixels) -> np.ndarray:
    return (pixels - np.array(MEAN)) / np.array(STD)


def test_weights_equal_the_file_layer_by_layer(entry, reference):
    model = keras_resnet.build_model("mini_resnet", weights="testset", **ARGUMENTS)
    assert_same_weights(model, reference)
    assert model.name == "mini_resnet"


def test_raw_pixels_go_through_the_entrys_normalization_first(entry):
    model = keras_resnet.build_model("mini_resnet", weights="testset", **ARGUMENTS)
    assert isinstance(model.layers[0], keras.layers.InputLayer)
    layer = model.layers[1]
    assert isinstance(layer, keras.layers.Normalization)
    assert layer.name == "normalization"
    np.testing.assert_allclose(np.ravel(layer.mean), MEAN, rtol=1e-6)
    np.testing.assert_allclose(np.ravel(layer.variance), np.square(STD), rtol=1e-6)


def test_output_on_raw_pixels_is_the_reference_on_normalized_pixels(entry, reference):
    model = keras_resnet.build_model("mini_resnet", weights="testset", **ARGUMENTS)
    pixels = raw_pixels()
    np.testing.assert_allclose(
        model.predict(pixels, verbose=0),
        reference.predict(normalized(pixels), verbose=0),
        atol=1e-5,
    )


def test_without_top_returns_the_feature_map_with_the_weights(entry, reference):
    model = keras_resnet.build_model(
        "mini_resnet",
        weights="testset",
        include_top=False,
        input_shape=(40, 48, 3),
        **ARGUMENTS,
    )
    assert model.output_shape == (None, 10, 12, 8)
    assert "fc" not in [layer.name for layer in model.layers]
    assert_same_weights(model, reference, skip={"fc"})
    any_size = keras_resnet.build_model(
        "mini_resnet",
        weights="testset",
        include_top=False,
        input_shape=(None, None, 3),
        **ARGUMENTS,
    )
    features = keras.Model(reference.input, reference.get_layer("avg_pool").input)
    pixels = raw_pixels(2)
    np.testing.assert_allclose(
        any_size.predict(pixels, verbose=0),
        features.predict(normalized(pixels), verbose=0),
        rtol=1e-5,
        atol=1e-4,
    )


def test_input_tensor_is_normalized_too(entry, reference):
    images = keras.Input((32, 32, 3), name="raw")
    model = keras_resnet.build_model(
        "mini_resnet", weights="testset", input_tensor=images, **ARGUMENTS
    )
    assert model.inputs[0] is images
    assert model.get_layer("normalization") is not None
    pixels = raw_pixels(2)
    np.testing.assert_allclose(
        model.predict(pixels, verbose=0),
        reference.predict(normalized(pixels), verbose=0),
        atol=1e-5,
    )


def test_pooling_and_logits_are_free(entry):
    model = keras_resnet.build_model(
        "mini_resnet",
        weights="testset",
        include_top=False,
        pooling="avg",
        **ARGUMENTS,
    )
    assert model.output_shape == (None, 8)
    logits = keras_resnet.build_model(
        "mini_resnet", weights="testset", classifier_activation="linear", **ARGUMENTS
    )
    probabilities = keras_resnet.build_model(
        "mini_resnet", weights="testset", **ARGUMENTS
    )
    pixels = raw_pixels(2)
    np.testing.assert_allclose(
        keras.ops.softmax(logits.predict(pixels, verbose=0)),
        probabilities.predict(pixels, verbose=0),
        atol=1e-5,
    )


def test_a_changed_byte_is_refused_naming_the_file(
    entry, weights_file, tmp_path, monkeypatch
):
    changed = tmp_path / weights_file.name
    data = bytearray(weights_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    changed.write_bytes(bytes(data))
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(OSError) as error:
        keras_resnet.build_model("mini_resnet", weights="testset", **ARGUMENTS)
    message = str(error.value)
    assert "\n" not in message
    assert str(changed) in message
    assert entry.sha256[:12] in message
    assert file_sha256(changed)[:12] in message
    assert message.endswith("reinstall keras3-resnet")


def test_a_missing_file_is_refused_naming_it(entry, tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(OSError, match="reinstall keras3-resnet") as error:
        keras_resnet.build_model("mini_resnet", weights="testset", **ARGUMENTS)
    assert str(tmp_path / entry.file) in str(error.value)
    assert "found missing" in str(error.value)


@pytest.mark.slow
@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"width_multiplier": 0.25},
            "weights='testset' needs width_multiplier=0.125. "
            "Received: width_multiplier=0.25",
        ),
        (
            {"blocks_per_stage": 3},
            "weights='testset' needs blocks_per_stage=1. Received: blocks_per_stage=3",
        ),
        (
            {"use_skip": False},
            "weights='testset' needs use_skip=True. Received: use_skip=False",
        ),
        (
            {"num_classes": 5},
            "num_classes must be 10 with weights='testset' and include_top=True "
            "(or use include_top=False). Received: num_classes=5",
        ),
        (
            {"input_shape": (32, 32, 1)},
            "input_shape must have 3 channels with weights='testset'. "
            "Received: input_shape=(32, 32, 1)",
        ),
    ],
)
def test_arguments_the_weights_fix_are_checked(entry, changes, message):
    with pytest.raises(ValueError) as error:
        keras_resnet.build_model(
            "mini_resnet", weights="testset", **{**ARGUMENTS, **changes}
        )
    assert str(error.value) == message


def test_other_classes_are_fine_without_the_top(entry):
    model = keras_resnet.build_model(
        "mini_resnet", weights="testset", include_top=False, num_classes=5, **ARGUMENTS
    )
    assert model.output_shape[-1] == 8


def test_an_input_tensor_with_other_channels_is_refused(entry):
    with pytest.raises(ValueError, match="input_tensor must have 3 channels"):
        keras_resnet.build_model(
            "mini_resnet",
            weights="testset",
            input_tensor=keras.Input((32, 32, 1)),
            **ARGUMENTS,
        )


def test_unknown_names_are_refused_naming_the_choices(entry):
    with pytest.raises(ValueError) as error:
        keras_resnet.build_model("mini_resnet", weights="imagenet")
    assert str(error.value) == (
        "weights must be None, the path of an existing weights file, or a "
        f"pretrained name of 'mini_resnet' ({mini_resnet_choices('testset')}). "
        "Received: weights='imagenet'"
    )
    with pytest.raises(ValueError) as error:
        keras_resnet.build_model("resnet18", weights="testset")
    assert "of 'resnet18' (it has none). Received: weights='testset'" in str(
        error.value
    )
    with pytest.raises(ValueError, match=r"\(it has none\)\. Received: weights=5$"):
        keras_resnet.build_model("resnet18", weights=5)
    assert keras_resnet.models.weights_choices("mini_resnet") == sorted(
        [*SHIPPED_NAMES, "testset"]
    )
    assert keras_resnet.models.weights_choices("resnet18") == []


def test_shipped_weights_are_complete():
    """Every registered entry names a file that is there, with its sha256."""
    for (model, name), entry in PRETRAINED.items():
        assert (entry.model, entry.name) == (model, name)
        assert fnmatch.fnmatch(entry.file, pretrained.WEIGHTS_GLOB)
        assert file_sha256(weights_path(entry)) == entry.sha256
        assert len(entry.mean) == len(entry.std) == 3


def test_a_registered_name_wins_over_a_file_of_that_name(
    entry, reference, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    pathlib.Path("testset").write_text("not weights")
    model = keras_resnet.build_model("mini_resnet", weights="testset", **ARGUMENTS)
    assert model.layers[1].name == "normalization"
    assert_same_weights(model, reference)


def test_a_path_still_loads_as_before(weights_file, reference):
    model = keras_resnet.build_model(
        "mini_resnet", weights=str(weights_file), **ARGUMENTS
    )
    assert model.layers[1].name != "normalization"
    assert_same_weights(model, reference)


def test_pyproject_installs_the_folder_the_loader_reads():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    package_data = config["tool"]["setuptools"]["package-data"]["keras_resnet"]
    package = REPO / "keras_resnet"
    assert pretrained.WEIGHTS_DIR == package / "weights"
    example = PretrainedWeights("m", "n", "m_n.weights.h5", "", (), (), (), {}, 0, "")
    relative = weights_path(example).relative_to(package).as_posix()
    assert any(fnmatch.fnmatch(relative, glob) for glob in package_data)
    assert f"weights/{pretrained.WEIGHTS_GLOB}" in package_data
    assert pretrained.WEIGHTS_GLOB == "*" + pretrained.WEIGHTS_SUFFIX


JAX_BUILD = """
import json, pathlib, sys
import numpy as np
import keras_resnet
from keras_resnet.models import pretrained

spec = json.loads(sys.argv[1])
folder = pathlib.Path(spec.pop("folder"))
pretrained.WEIGHTS_DIR = folder
pretrained.PRETRAINED["mini_resnet", "testset"] = pretrained.PretrainedWeights(**spec)
model = keras_resnet.build_model("mini_resnet", weights="testset", **spec["arguments"])
pixels = np.load(folder / "pixels.npy")
np.save(folder / "jax.npy", np.asarray(model.predict(pixels, verbose=0)))
print(keras_resnet.models.weights_choices("mini_resnet"))
"""


@pytest.mark.slow
def test_jax_backend_builds_and_matches(entry, reference, weights_file, tmp_path):
    folder = tmp_path / "jax"
    folder.mkdir()
    (folder / entry.file).write_bytes(weights_file.read_bytes())
    pixels = raw_pixels(2)
    np.save(folder / "pixels.npy", pixels)
    spec = {
        "folder": str(folder),
        **{key: getattr(entry, key) for key in entry.__dataclass_fields__},
    }
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": FAST_XLA}
    done = subprocess.run(
        [sys.executable, "-c", JAX_BUILD, json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == str(
        sorted([*SHIPPED_NAMES, "testset"])
    )
    np.testing.assert_allclose(
        np.load(folder / "jax.npy"),
        reference.predict(normalized(pixels), verbose=0),
        atol=1e-5,
    )


# -- write_pretrained: packaging a finished run ---------------------------------


@pytest.fixture(scope="module")
def written(trained_run, tmp_path_factory):
    """``python -m keras_resnet.models.pretrained`` (its ``main``) on the tiny run."""
    path = tmp_path_factory.mktemp("written") / "mini_resnet_synthetic.weights.h5"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = pretrained.main(
            [str(trained_run.path), str(path), "--name", "synthetic"]
        )
    assert code == 0
    return path, stdout.getvalue()


@pytest.mark.slow
def test_write_pretrained_fields_come_from_the_run(trained_run, tmp_path):
    path = tmp_path / "out.weights.h5"
    fields = write_pretrained(trained_run.path, path)
    dataset = read_json(trained_run.path / DATASET_FILE)
    metrics = read_json(trained_run.path / METRICS_FILE)
    assert fields["model"] == "mini_resnet"
    assert fields["file"] == "out.weights.h5"
    assert fields["sha256"] == file_sha256(path)
    assert fields["mean"] == dataset["mean"] and fields["std"] == dataset["std"]
    assert fields["class_names"] == dataset["class_names"]
    assert fields["test_accuracy"] == metrics["test_accuracy"]
    assert fields["arguments"] == ARGUMENTS
    assert "\n" not in fields["source"] and "mini_resnet" in fields["source"]


@pytest.mark.slow
def test_written_file_loads_with_the_runs_weights(trained_run, written):
    path, _ = written
    classifier, class_names = load_classifier(trained_run.path)
    model = keras_resnet.build_model(
        "mini_resnet", weights=str(path), num_classes=len(class_names), **ARGUMENTS
    )
    assert_same_weights(model, classifier, skip={"normalization"})


@pytest.mark.slow
def test_printed_entry_rebuilds_the_runs_classifier(trained_run, written, monkeypatch):
    """The entry it prints, pasted into the table, gives the run's classifier."""
    path, stdout = written
    source = stdout.strip()
    assert source.startswith("('mini_resnet', 'synthetic'): PretrainedWeights(")
    entry = eval(f"{{{source}}}", vars(pretrained))[("mini_resnet", "synthetic")]
    monkeypatch.setitem(PRETRAINED, ("mini_resnet", "synthetic"), entry)
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", path.parent)
    model = keras_resnet.build_model(
        "mini_resnet", weights="synthetic", **entry.arguments
    )
    classifier, _ = load_classifier(trained_run.path)
    pixels = raw_pixels(4)
    np.testing.assert_allclose(
        model.predict(pixels, verbose=0),
        classifier.predict(pixels, verbose=0),
        atol=1e-5,
    )


@pytest.mark.slow
def test_write_pretrained_refuses_bad_paths_and_runs(trained_run, tmp_path):
    with pytest.raises(ValueError, match=r"must end in \.weights\.h5"):
        write_pretrained(trained_run.path, tmp_path / "out.h5")
    with pytest.raises(RunDirectoryError, match="not a completed"):
        write_pretrained(tmp_path, tmp_path / "out.weights.h5")
    assert not (tmp_path / "out.weights.h5").exists()


def test_main_reports_a_bad_run_in_one_line(tmp_path, capsys):
    assert pretrained.main([str(tmp_path), str(tmp_path / "x.weights.h5")]) == 1
    assert capsys.readouterr().err == (
        f"Error: {tmp_path} is not a completed run (needs config.yaml and "
        "metrics.json with test_accuracy)\n"
    )


def test_evaluate_defaults_to_cifar10_and_checks_class_names(entry, reference):
    """``evaluate(model, weights=...)`` loads "cifar10" unless told otherwise."""
    import dataclasses

    import keras_resnet.data
    from keras_resnet.errors import DataError
    from keras_resnet.train import evaluate

    @dataclasses.dataclass
    class Splits:
        class_names: tuple
        arrays: dict

    pixels = raw_pixels(6).astype("uint8")
    labels = np.arange(6) % 10
    requested = []

    def load_dataset(name, data_dir=None):
        requested.append(name)
        names = CLASSES if name == "cifar10" else ("a", "b")
        return Splits(names, {"test": (pixels, labels)})

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras_resnet.data, "load_dataset", load_dataset)
        result = evaluate("mini_resnet", weights="testset")
        with pytest.raises(DataError, match="the dataset other has a, b;"):
            evaluate("mini_resnet", weights="testset", dataset="other")
    assert requested == ["cifar10", "other"]
    expected = reference.predict(normalized(pixels.astype("float32")), verbose=0)
    assert result["accuracy"] == float((expected.argmax(-1) == labels).mean())
    assert result["class_names"] == list(CLASSES)


def test_docs_say_which_weights_ship():
    """docs/models.md names every shipped set with its documented accuracy
    ("None ship yet" while the table is empty), and quotes the refusal of a
    name that does not ship as the builder words it."""
    text = (REPO / "docs" / "models.md").read_text()
    refused = "imagenet" if PRETRAINED else "cifar10"
    if PRETRAINED:
        assert "None ship yet" not in text
        for (model, name), entry in PRETRAINED.items():
            assert f'build_model("{model}", weights="{name}")' in text
            assert f"{entry.test_accuracy:.2%}" in text
    else:
        assert "**None ship yet**" in text
    with pytest.raises(ValueError) as error:
        keras_resnet.build_model("mini_resnet", weights=refused)
    assert f"ValueError: {error.value}\n" in text


@pytest.mark.slow
@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"model_options": {"blocks_per_stage": 2}},
            "weighted layers are missing there, the first ",
        ),
        ({"width_multiplier": 0.25}, "has shapes"),
    ],
)
def test_write_pretrained_refuses_a_model_the_config_does_not_describe(
    trained_run_copy, tmp_path, changes, message
):
    import yaml

    config = trained_run_copy / "config.yaml"
    values = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**values, **changes}))
    out = tmp_path / "out.weights.h5"
    with pytest.raises(ValueError, match=message):
        write_pretrained(trained_run_copy, out)
    assert not out.exists()


# Every shipped set of CIFAR-10 weights, scored where it was trained: the
# shared copy's 10,000 test images, by the command a user types (a new
# process, oneDNN as the command sets it, as the training run had it). None
# is collected while PRETRAINED is empty (pytest then reports one skip).
SHIPPED_CIFAR10 = [entry for entry in PRETRAINED.values() if entry.name == "cifar10"]


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("entry", SHIPPED_CIFAR10, ids=lambda entry: entry.model)
def test_shipped_weights_reproduce_their_documented_test_accuracy(
    entry, shared_cifar_dir, shared_cifar_cache, tmp_path, monkeypatch
):
    # The session's decode cache: the copy's pixels, decoded once for the
    # suite (the test is about the weights, not the decoding).
    monkeypatch.setenv("KERAS_RESNET_CACHE", str(shared_cifar_cache))
    done = run_cli(
        "evaluate",
        entry.model,
        "--weights",
        entry.name,
        "--dataset",
        shared_cifar_dir,
        "--json",
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["num_examples"] == 10_000
    assert result["class_names"] == list(entry.class_names)
    assert abs(result["accuracy"] - entry.test_accuracy) <= 0.001  # 0.1 point

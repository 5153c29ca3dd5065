"""What a run saves loads in plain Keras, in a process that cannot import
this package; ``import keras_resnet`` registers its classes without
importing Keras."""

import json

import keras
import numpy as np
import pytest
from import_blocker import blocked_python
from train_helpers import run_python

import keras_resnet

LOAD_AND_PREDICT = """
import json, sys
import numpy as np
import keras

pixels = np.load(sys.argv[1])
out = {}
for name in ("model.keras", "best.keras"):
    model = keras.saving.load_model(f"{sys.argv[2]}/{name}")
    out[name] = keras.ops.convert_to_numpy(model(pixels)).tolist()
try:
    import keras_resnet  # noqa: F401
    out["importable"] = True
except ImportError:
    out["importable"] = False
print("RESULT", json.dumps(out))
"""


def result_of(completed):
    assert completed.returncode == 0, completed.stderr[-3000:]
    line = next(x for x in completed.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def test_saved_models_load_in_plain_keras_without_the_package(trained_run, tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3))
    np.save(tmp_path / "pixels.npy", pixels.astype("float32"))
    # As on a serving machine without the package: its import fails.
    report = result_of(
        blocked_python(
            LOAD_AND_PREDICT,
            "keras_resnet",
            args=[tmp_path / "pixels.npy", trained_run.path],
        )
    )
    assert report["importable"] is False
    # The same outputs as each file gives here (that the files hold the
    # trained classifier: test_engine's evaluate-against-metrics test).
    for name in ("model.keras", "best.keras"):
        model = keras.saving.load_model(trained_run.path / name)
        expected = keras.ops.convert_to_numpy(model(pixels.astype("float32")))
        np.testing.assert_allclose(report[name], expected, rtol=1e-5, atol=1e-5)


def test_saved_files_name_no_class_of_the_package(trained_run):
    import zipfile

    for name in ("model.keras", "best.keras"):
        with zipfile.ZipFile(trained_run.path / name) as archive:
            assert "keras_resnet" not in archive.read("config.json").decode()


def test_import_keras_resnet_does_not_import_keras():
    code = (
        "import sys, keras_resnet; "
        "print('RESULT', __import__('json').dumps("
        "[m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules]))"
    )
    assert result_of(run_python(code)) == []


REGISTERED = [
    "keras_resnet>BatchNormalization",
    "keras_resnet>RandomCropFlip",
    "keras_resnet>Cutout",
    "keras_resnet>WarmupCosine",
    "keras_resnet>OneCycle",
    "keras_resnet>StepDecay",
    "keras_resnet>KernelL2SGD",
    "keras_resnet>CrossEntropy",
]

LOAD_FUSED = """
import json, sys
{imports}
model = keras.saving.load_model({path!r})
x = np.load({pixels!r})
print("RESULT", json.dumps({{
    "classes": sorted({{type(l).__module__ + "." + type(l).__name__
                       for l in model.layers if "bn" in l.name}}),
    "registered": [keras.saving.get_registered_object(n) is not None
                   for n in {names!r}],
    "engine": "keras_resnet.train.engine" in sys.modules,
    "outputs": keras.ops.convert_to_numpy(model(x)).tolist(),
}}))
"""


@pytest.fixture(scope="module")
def fused_file(tmp_path_factory):
    """A file written with the fused layer, as older versions saved it, the
    inputs, and the outputs of the model that wrote it."""
    folder = tmp_path_factory.mktemp("fused")
    model = keras_resnet.build_model(
        "mini_resnet", width_multiplier=0.125, blocks_per_stage=1
    )
    x = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    model(x, training=True)
    model.save(folder / "fused.keras")
    np.save(folder / "x.npy", x)
    return folder, keras.ops.convert_to_numpy(model(x))


@pytest.mark.parametrize(
    "imports",
    [
        "import keras_resnet\nimport keras\nimport numpy as np",
        "import keras\nimport numpy as np\nimport keras_resnet",
    ],
    ids=["package-first", "keras-first"],
)
def test_import_keras_resnet_registers_every_class(fused_file, imports):
    folder, expected = fused_file
    code = LOAD_FUSED.format(
        imports=imports,
        path=str(folder / "fused.keras"),
        pixels=str(folder / "x.npy"),
        names=REGISTERED,
    )
    report = result_of(run_python(code))
    assert report["classes"] == ["keras_resnet.models.layers.BatchNormalization"]
    assert all(report["registered"]), dict(
        zip(REGISTERED, report["registered"], strict=True)
    )
    assert report["engine"] is False  # registration stays light
    np.testing.assert_allclose(report["outputs"], expected, rtol=1e-5, atol=1e-6)


def test_registered_names_are_the_classes_of_the_package():
    for name in REGISTERED:
        cls = keras.saving.get_registered_object(name)
        assert cls is not None and cls.__module__.startswith("keras_resnet."), name

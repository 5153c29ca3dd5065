"""The JAX backend end to end on a machine WITHOUT TensorFlow.

JAX + CUDA machines often lack TensorFlow. One fresh interpreter runs with
``KERAS_BACKEND=jax`` and TensorFlow, TensorFlow Datasets, TensorBoard and
tf2onnx unimportable (``import_blocker``: ``import tensorflow`` raises
``ModuleNotFoundError`` as if it were not installed). In it:

- every builder module imports; one model of every kind of body
  (``model_archs.ARCHS``, shared with the model tests: each family and
  block type at its smallest layout) builds, predicts, and survives an exact
  ``.keras`` round trip; the test compares its layer names and trainable
  parameters with the same model built on TensorFlow here (the builders of a
  family share one code path; full-size counts are pinned on TensorFlow by
  tests/models/test_catalog.py);
- the file sources load (``.npz``, an image-folder tree and its ``.tar.gz``,
  the official CIFAR python folder);
- the NumPy loader feeds augmentation and a jit-compiled fit;
- ``keras-resnet fit`` trains two epochs on the image folders, records
  gradient norms, evaluates and saves; the library trains and evaluates on
  the CIFAR folder; the saved ``.keras`` files reload exactly;
- ``keras-resnet export`` of that run refuses a SavedModel in one line and
  writes the ``.keras`` format;
- nothing imports TensorFlow.

Each test below checks one part of that one process' report. ``XLA_FLAGS``
make XLA compile faster (``FAST_XLA``).
"""

import json
import pathlib
import pickle

import numpy as np
import pytest
from import_blocker import TENSORFLOW, blocked_python
from jax_env import FAST_XLA
from model_archs import ARCHS, build_arch
from PIL import Image

from keras_resnet.models.catalog import CATALOG

TESTS = pathlib.Path(__file__).resolve().parent
CLASSES = ("cat", "dog")
SCRIPT = r"""
import importlib, json, os, pathlib, pkgutil, sys
sys.path.insert(0, {tests!r})
base = pathlib.Path(sys.argv[1])
sources = json.loads(sys.argv[2])
out = {{}}

# The blocker really stands in for a missing TensorFlow.
blocked = {{}}
for name in {blocked!r}:
    try:
        importlib.import_module(name)
        blocked[name] = "imported"
    except ModuleNotFoundError:
        blocked[name] = "missing"
out["blocked"] = blocked

import numpy as np
import keras

import keras_resnet
from keras_resnet.augment import build_augmentation, build_normalization
from keras_resnet.callbacks import tensorboard_available
from keras_resnet.cli import main
from keras_resnet.data import load_dataset
from keras_resnet.data.loader import ArrayLoader
from keras_resnet.models import count_trainable_params
from model_archs import ARCHS, build_arch
from keras_resnet.train import evaluate, train
from tiny import tiny_config, tiny_fit_args

out["backend"] = keras.backend.backend()
out["tensorboard_available"] = tensorboard_available()

# Every builder module imports; one model of every kind of body
# (model_archs.ARCHS: each family and block type) builds, predicts and
# round-trips through a .keras file exactly.
import keras_resnet.models as models_package

modules = sorted(info.name for info in pkgutil.iter_modules(models_package.__path__))
for name in modules:
    importlib.import_module("keras_resnet.models." + name)
out["model_modules"] = modules
x = np.random.default_rng(0).random((2, 32, 32, 3), dtype="float32")


def round_trip_is_exact(key, model, y):
    path = base / "round-trip" / (key + ".keras")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    z = keras.saving.load_model(path, safe_mode=True).predict_on_batch(x)
    return bool(np.array_equal(y, np.asarray(z)))


out["models"] = {{}}
for key in ARCHS:
    model = build_arch(key)
    # predict_on_batch compiles the whole graph once; eager JAX compiles op
    # by op.
    y = np.asarray(model.predict_on_batch(x))
    out["models"][key] = {{
        "params": count_trainable_params(model),
        "names": [layer.name for layer in model.layers],
        "shape": list(y.shape),
        "exact": round_trip_is_exact(key, model, y),
    }}

# The file sources load.
out["sizes"] = {{
    key: [s.train_size, s.validation_size, s.test_size]
    for key, s in (
        (key, load_dataset(source, validation_split=0.2))
        for key, source in sources.items()
    )
}}

# The NumPy loader feeds augmentation and a jit-compiled fit.
splits = load_dataset("synthetic", max_train_examples=64)
loader = ArrayLoader(*splits.arrays["train"], batch_size=16, training=True, seed=1)
inputs = keras.Input(splits.image_shape, dtype="uint8")
h = build_normalization(splits.mean, splits.std)(build_augmentation(cutout=8)(inputs))
h = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(h))
model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(h))
model.compile("sgd", "sparse_categorical_crossentropy", jit_compile=True)
history = model.fit(
    loader, epochs=2, verbose=0, shuffle=False, callbacks=[loader.epoch_callback()]
)
out["loader"] = {{
    "epochs": len(history.history["loss"]),
    "loader_epoch": loader.epoch,
    "steps": [
        int(np.asarray(w)) for w in model.non_trainable_weights if w.dtype == "int32"
    ],
}}


def reload_check(run):
    pixels = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3)).astype("uint8")
    model = keras.saving.load_model(run / "model.keras")
    probs = np.asarray(model.predict(pixels, verbose=0))
    model.save(run / "again.keras")
    again = keras.saving.load_model(run / "again.keras").predict(pixels, verbose=0)
    return {{
        "probs_shape": list(probs.shape),
        "probs_sum": probs.sum(axis=1).tolist(),
        "reload_exact": bool(np.array_equal(probs, np.asarray(again))),
    }}


# keras-resnet fit on the image-folder tree: two epochs, gradient norms, saved.
run = base / "cli"
args = tiny_fit_args(
    run, dataset=sources["folders"], batch_size=8, validation_split=0.25,
    grad_norm_every=1, grad_norm_steps=[0, 1], jit_compile=True,
)
try:
    main(["fit", *args])
    out["cli_exit"] = 0
except SystemExit as stop:
    out["cli_exit"] = stop.code
evaluated = evaluate(str(run))
out["cli"] = {{
    "evaluated": {{k: evaluated[k] for k in ("accuracy", "num_examples")}},
    **reload_check(run),
}}

# The library trains and evaluates on the CIFAR folder.
run = base / "cifar"
result = train(tiny_config(
    run, dataset=sources["cifar"], epochs=1, batch_size=8, validation_split=0.25,
    max_train_examples=48, max_test_examples=16, grad_norm_steps=[0],
    jit_compile=True,
))
evaluated = evaluate(str(run))
out["cifar"] = {{
    "completed": result.metrics["completed"],
    "test_accuracy": result.metrics["test_accuracy"],
    "epochs": result.history["epoch"],
    "val_accuracy": result.history["val_accuracy"],
    "evaluated": {{k: evaluated[k] for k in ("accuracy", "num_examples")}},
    **reload_check(run),
}}

# keras-resnet export of the CLI's run: no SavedModel without TensorFlow (one
# line), the .keras format needs none. Markers delimit each export's output.
exports = base / "export"
exports.mkdir()
os.chdir(exports)
out["export_exits"] = []
for argv in ([str(base / "cli"), "serving"],
             [str(base / "cli"), "keras", "--format", "keras"]):
    for stream in (sys.stdout, sys.stderr):
        print("<<export>>", file=stream, flush=True)
    try:
        main(["export", *argv])
        out["export_exits"].append(0)
    except SystemExit as stop:
        out["export_exits"].append(stop.code)
    for stream in (sys.stdout, sys.stderr):
        print("<<end>>", file=stream, flush=True)

out["tensorflow_loaded"] = sorted(
    name for name in sys.modules if name.split(".")[0] in {blocked!r}
)
print("RESULT " + json.dumps(out, default=float))
"""


def write_image_tree(root: pathlib.Path) -> pathlib.Path:
    """``root/{train,test}/{cat,dog}/*.png``, 32x32, the class in the brightness."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 12), ("test", 4)):
        for label, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 60, (32, 32, 3)) + 120 * label
                Image.fromarray(pixels.astype(np.uint8)).save(
                    root / split / name / f"{i}.png"
                )
    return root


def write_cifar_python(folder: pathlib.Path, per_batch: int = 10) -> pathlib.Path:
    """The official python layout (cifar-10-batches-py), tiny."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        batch = {
            b"batch_label": name.encode(),
            b"labels": [i % 10 for i in range(per_batch)],
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"filenames": [f"{i}.png".encode() for i in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"label_names": [f"c{i}".encode() for i in range(10)], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def write_npz(path: pathlib.Path) -> pathlib.Path:
    rng = np.random.default_rng(0)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8),
        y_train=np.arange(20) % 2,
        x_test=rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8),
        y_test=np.array([0, 1, 0, 1]),
    )
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """Everything above, in one fresh JAX process without TensorFlow."""
    import tarfile

    root = tmp_path_factory.mktemp("no-tensorflow")
    tree = write_image_tree(root / "tree")
    with tarfile.open(root / "tree.tar.gz", "w:gz") as tar:
        tar.add(tree, arcname=".")
    sources = {
        "npz": str(write_npz(root / "d.npz")),
        "tar": str(root / "tree.tar.gz"),
        "folders": str(tree),
        "cifar": str(write_cifar_python(root / "cifar" / "cifar-10-batches-py").parent),
    }
    code = SCRIPT.format(
        tests=str(TESTS),
        blocked=TENSORFLOW,
    )
    done = blocked_python(
        code,
        *TENSORFLOW,
        args=[root / "runs", json.dumps(sources)],
        cwd=root,
        env={
            "KERAS_BACKEND": "jax",
            "JAX_PLATFORMS": "cpu",
            "KERAS_RESNET_CACHE": "none",
            "XLA_FLAGS": FAST_XLA,
        },
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    out = json.loads(line[len("RESULT ") :])
    out["export_stdout"] = between_markers(done.stdout)
    out["export_stderr"] = between_markers(done.stderr)
    return root / "runs", out


def between_markers(text: str) -> list[list[str]]:
    """The non-blank lines of each ``<<export>>`` ... ``<<end>>`` section."""
    sections = []
    for chunk in text.split("<<export>>\n")[1:]:
        lines = chunk.split("<<end>>\n", 1)[0].splitlines()
        sections.append([line for line in lines if line.strip()])
    return sections


pytestmark = pytest.mark.slow


def test_tensorflow_is_missing_and_never_imported(report):
    _, out = report
    assert out["blocked"] == {name: "missing" for name in TENSORFLOW}
    assert out["backend"] == "jax"
    assert out["tensorboard_available"] is False
    assert out["tensorflow_loaded"] == []


def test_every_builder_module_imports_and_builds(report):
    _, out = report
    assert {"densenet", "resnet", "vgg"} <= set(out["model_modules"])
    # A model of every family (model_archs checks that ARCHS has one) ran on JAX.
    families = {family for family, _ in ARCHS.values()}
    assert families == {entry.family for entry in CATALOG.values()}
    assert sorted(out["models"]) == sorted(ARCHS)


@pytest.mark.parametrize("key", sorted(ARCHS))
def test_builders_on_jax_match_tensorflow_and_round_trip(report, key):
    """Same layer names and trainable parameters as on TensorFlow: the JAX
    graph is the same network; the ``.keras`` file reloads exactly."""
    from keras_resnet.models import count_trainable_params

    _, out = report
    info = out["models"][key]
    tf_model = build_arch(key)
    assert info["names"] == [layer.name for layer in tf_model.layers]
    assert info["params"] == count_trainable_params(tf_model)
    assert info["shape"] == [2, 10]
    assert info["exact"] is True


def test_file_sources_load(report):
    _, out = report
    assert out["sizes"] == {
        "npz": [16, 4, 4],
        "tar": [19, 5, 8],
        "folders": [19, 5, 8],
        "cifar": [40, 10, 10],
    }


def test_numpy_loader_feeds_augmentation_and_a_jit_fit(report):
    _, out = report
    assert out["loader"]["epochs"] == 2 and out["loader"]["loader_epoch"] == 1
    # 4 batches x 2 epochs, counted by each augmentation layer.
    assert out["loader"]["steps"] == [8, 8]


def test_cli_fit_trains_records_gradients_and_saves(report):
    runs, out = report
    run = runs / "cli"
    assert out["cli_exit"] == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["model"] == "mini_resnet" and metrics["epochs"] == 2
    assert metrics["completed"] is True and 0.0 <= metrics["test_accuracy"] <= 1.0
    history = json.loads((run / "history.json").read_text())
    assert history["epoch"] == [1, 2] and len(history["val_accuracy"]) == 2
    grads = json.loads((run / "gradient_norms.json").read_text())
    assert grads["layers"]
    points = [[r["epoch"], r["step"]] for r in grads["records"]]
    assert [0, 0] in points and [0, 1] in points and [2, 0] in points
    norms = [v for r in grads["records"] for v in r["norms"].values()]
    assert all(np.isfinite(v) and v >= 0 for v in norms) and any(norms)
    assert (run / "model.keras").is_file() and (run / "best.keras").is_file()
    assert not (run / "tensorboard").exists()  # no TensorBoard without TensorFlow
    cli = out["cli"]
    assert cli["evaluated"]["num_examples"] == 8  # the tree's test split
    assert cli["evaluated"]["accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert cli["probs_shape"] == [3, 2]  # cat, dog
    np.testing.assert_allclose(cli["probs_sum"], 1.0, atol=1e-4)
    assert cli["reload_exact"]


def test_library_trains_evaluates_and_reloads_on_a_cifar_folder(report):
    _, out = report
    run = out["cifar"]
    assert run["completed"] is True and run["epochs"] == [1]
    assert len(run["val_accuracy"]) == 1
    assert 0.0 <= run["test_accuracy"] <= 1.0
    assert run["evaluated"]["num_examples"] == 10
    assert run["evaluated"]["accuracy"] == pytest.approx(run["test_accuracy"])
    assert run["probs_shape"] == [3, 10]
    np.testing.assert_allclose(run["probs_sum"], 1.0, atol=1e-4)
    assert run["reload_exact"]


def test_export_without_tensorflow_refuses_saved_model_and_writes_keras(report):
    runs, out = report
    assert out["export_exits"] == [1, 0]
    refused, written = out["export_stderr"]
    assert refused == [
        "Error: SavedModel export needs TensorFlow, also on the JAX backend "
        "(Keras converts the model with jax2tf): pip install tensorflow"
    ]
    assert out["export_stdout"] == [[], ["Exported keras to keras"]]
    exports = runs / "export"
    assert sorted(p.name for p in exports.iterdir()) == ["keras"]
    assert sorted(p.name for p in (exports / "keras").iterdir()) == [
        "dataset.json",
        "model.keras",
    ]

"""The JAX backend end to end in a virtual environment WITHOUT TensorFlow.

JAX + CUDA machines often lack TensorFlow. A venv is created once per test
session with keras, jax (CPU), numpy, pillow, pyyaml, click and matplotlib
(pinned to this environment's keras / jax / numpy versions) and this package
installed with ``--no-deps``. In it, with ``KERAS_BACKEND=jax``: every model
builds, the public training path trains on synthetic data, an image-folder
tree and an official-CIFAR-format folder, records gradient norms, evaluates
and saves a ``.keras`` that reloads; ``keras-resnet fit`` does the same from
the command line. Skipped only when pip cannot reach a package registry.
"""

import json
import os
import pathlib
import pickle
import subprocess
import venv
from importlib import metadata

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
EXTRA = ("pillow", "pyyaml", "click", "matplotlib")
PINNED = ("keras", "jax", "jaxlib", "numpy")
OFFLINE_SIGNS = (
    "No matching distribution found",
    "Could not find a version",
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ConnectionError",
)
CLASSES = ("cat", "dog")

LIBRARY_SCRIPT = r"""
import importlib.util, json, math, pathlib, sys
import numpy as np
import keras
import keras_resnet
from keras_resnet.train import TrainConfig, evaluate, train

base = pathlib.Path(sys.argv[1])
out = {
    "backend": keras.backend.backend(),
    "tensorflow": importlib.util.find_spec("tensorflow") is not None,
}
x = np.random.default_rng(0).random((2, 32, 32, 3), dtype="float32")
out["models"] = {
    name: list(np.asarray(
        keras_resnet.build_model(name, width_multiplier=0.125)(x, training=False)
    ).shape)
    for name in keras_resnet.list_models()
}
for key, source in json.loads(sys.argv[2]).items():
    run = base / key
    train(TrainConfig(
        model="resnet18", dataset=source, epochs=2, batch_size=8,
        width_multiplier=0.125, max_train_examples=48, max_test_examples=16,
        validation_split=0.25, grad_norm_every=1, grad_norm_steps=[0, 1],
        output_dir=str(run), verbose=0,
    ))
    history = json.loads((run / "history.json").read_text())
    grads = json.loads((run / "gradient_norms.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    model = keras.saving.load_model(run / "model.keras")
    pixels = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3)).astype("uint8")
    probs = np.asarray(model.predict(pixels, verbose=0))
    model.save(run / "again.keras")
    again = np.asarray(keras.saving.load_model(run / "again.keras").predict(pixels, verbose=0))
    norms = [v for r in grads["records"] for v in r["norms"].values()]
    evaluated = evaluate(str(run))
    out[key] = {
        "epochs": len(history["loss"]),
        "val_accuracy": history["val_accuracy"],
        "grad_layers": len(grads["layers"]),
        "grad_points": [[r["epoch"], r["step"]] for r in grads["records"]],
        "grad_finite_positive": all(math.isfinite(v) and v >= 0 for v in norms)
        and any(v > 0 for v in norms),
        "test_accuracy": metrics["test_accuracy"],
        "completed": metrics["completed"],
        "probs_shape": list(probs.shape),
        "probs_sum": probs.sum(axis=1).tolist(),
        "reload_exact": bool(np.array_equal(probs, again)),
        "evaluated": {k: evaluated[k] for k in ("accuracy", "num_examples")},
    }
out["tensorflow_loaded"] = "tensorflow" in sys.modules
print(json.dumps(out, default=float))
"""


def _pip(python: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def notf_python(tmp_path_factory) -> pathlib.Path:
    """A venv with keras + jax and this package, without TensorFlow."""
    root = tmp_path_factory.mktemp("notf-venv")
    venv.EnvBuilder(with_pip=True).create(root)
    python = root / "bin" / "python"
    pins = [f"{name}=={metadata.version(name)}" for name in PINNED]
    deps = _pip(python, *pins, *EXTRA)
    if deps.returncode != 0:
        if any(sign in deps.stderr for sign in OFFLINE_SIGNS):
            pytest.skip(f"pip cannot reach a registry: {deps.stderr[-300:]}")
        pytest.fail(f"installing the dependencies failed:\n{deps.stderr[-3000:]}")
    package = _pip(python, "--no-deps", str(REPO))
    assert package.returncode == 0, package.stderr[-3000:]
    return python


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return {
        **env,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "KERAS_RESNET_CACHE": "none",
    }


def _write_image_tree(root: pathlib.Path) -> pathlib.Path:
    from PIL import Image

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


def _write_cifar_python(folder: pathlib.Path, per_batch: int = 10) -> pathlib.Path:
    """The official python layout (cifar-10-batches-py), tiny."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
    for name in names:
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


@pytest.mark.slow
def test_venv_really_lacks_tensorflow(notf_python):
    probe = subprocess.run(
        [
            str(notf_python),
            "-c",
            "import importlib.util as u, keras, jax; "
            "print(u.find_spec('tensorflow') is None, keras.backend.backend())",
        ],
        capture_output=True,
        text=True,
        env=_env(),
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.split() == ["True", "jax"]


@pytest.mark.slow
def test_library_trains_records_evaluates_and_saves_without_tensorflow(
    notf_python, tmp_path
):
    sources = {
        "synthetic": "synthetic",
        "folders": str(_write_image_tree(tmp_path / "tree")),
        "cifar": str(_write_cifar_python(tmp_path / "cifar-10-batches-py")),
    }
    result = subprocess.run(
        [
            str(notf_python),
            "-c",
            LIBRARY_SCRIPT,
            str(tmp_path / "runs"),
            json.dumps(sources),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["backend"] == "jax"
    assert out["tensorflow"] is False and out["tensorflow_loaded"] is False
    assert set(out["models"]) >= {"resnet18", "resnet18_noskip", "mini_resnet"}
    assert all(shape == [2, 10] for shape in out["models"].values())
    for key in sources:
        run = out[key]
        assert run["epochs"] == 2 and len(run["val_accuracy"]) == 2, key
        assert run["grad_layers"] > 0 and run["grad_finite_positive"], key
        points = run["grad_points"]
        assert [0, 0] in points and [0, 1] in points and [2, 0] in points, key
        assert 0.0 <= run["test_accuracy"] <= 1.0 and run["completed"], key
        assert run["probs_shape"] == [3, 2 if key == "folders" else 10], key
        assert np.allclose(run["probs_sum"], 1.0, atol=1e-4), key
        assert run["reload_exact"], key
        evaluated = run["evaluated"]
        assert evaluated["num_examples"] == {"folders": 8, "cifar": 10}.get(key, 16)
        assert 0.0 <= evaluated["accuracy"] <= 1.0, key


@pytest.mark.slow
def test_cli_fit_without_tensorflow(notf_python, tmp_path):
    run = tmp_path / "run"
    cli = notf_python.parent / "keras-resnet"
    result = subprocess.run(
        [
            str(cli),
            "fit",
            "mini_resnet",
            "--dataset",
            "synthetic",
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--width-multiplier",
            "0.25",
            "--max-train-examples",
            "64",
            "--max-test-examples",
            "32",
            "--output-dir",
            str(run),
            "--verbose",
            "0",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["model"] == "mini_resnet" and metrics["epochs"] == 1
    assert (run / "model.keras").is_file()
    assert json.loads((run / "gradient_norms.json").read_text())["records"]

"""benchmarks/init_gradients.py: the at-initialization gradient profile."""

import json
import math
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from benchmark_scripts import BENCHMARKS, load_benchmark_module

import keras_resnet

SCRIPT = BENCHMARKS / "init_gradients.py"


@pytest.fixture(scope="module")
def init_gradients():
    """The script as a module."""
    return load_benchmark_module("init_gradients")


@pytest.mark.slow
def test_quick_run_writes_every_model_and_normalization(init_gradients, tmp_path):
    # main() in this process (Keras is loaded already); the replot below runs
    # the script as a script.
    assert init_gradients.main(["--quick", "--out-dir", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "init_gradients.json").read_text())
    assert (tmp_path / "init_gradients.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["width_multiplier"] == 0.125
    assert report["probe"]["size"] == 64
    counts = report["probe"]["class_counts"]
    assert sum(counts) == 64 and max(counts) - min(counts) <= 1
    assert set(report["models"]) == {
        "resnet18",
        "resnet18_noskip",
        "baseline_cnn",
        "mini_resnet56",
        "mini_resnet56_noskip",
    }
    for name, entry in report["models"].items():
        for normalization in ("batch", "none"):
            data = entry[normalization]
            norms = data["norms"]
            assert list(norms) == data["layers"] and data["layers"][-1] == "fc"
            assert all(math.isfinite(v) and v > 0 for v in norms.values()), name
            assert math.isfinite(data["first_to_last"]) and data["first_to_last"] > 0
            depths = [data["relative_depth"][layer] for layer in data["layers"]]
            assert min(depths) == 0.0 and max(depths) == 1.0
        # The two arms join by layer name.
        assert entry["batch"]["layers"] == entry["none"]["layers"]
    # 56 layers: 55 main-path convolutions and the classifier (+2 projections).
    assert len(report["models"]["mini_resnet56"]["none"]["layers"]) == 58
    assert len(report["models"]["mini_resnet56_noskip"]["none"]["layers"]) == 56

    # The figure is redrawn from the JSON alone.
    (tmp_path / "init_gradients.png").unlink()
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--replot", "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "init_gradients.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_replot_without_json_is_one_error_line(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--replot", "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"Error: cannot read {tmp_path / 'init_gradients.json'}"
    )
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "init_gradients.png").exists()


def test_bad_dataset_is_one_error_line(init_gradients, tmp_path, capsys):
    missing = tmp_path / "nowhere"
    argv = ["--quick", "--dataset", str(missing), "--out-dir", str(tmp_path)]
    assert init_gradients.main(argv) == 1  # the script's exit status
    stderr = capsys.readouterr().err
    assert stderr.strip().splitlines() == [stderr.strip()]  # one line
    assert stderr.startswith("Error: ") and str(missing) in stderr
    assert not (tmp_path / "init_gradients.json").exists()


@pytest.mark.parametrize("size", [64, 512, 517])
def test_probe_is_class_balanced_seeded_and_not_file_order(init_gradients, size):
    # Sorted by class, as image folders decode.
    labels = np.repeat(np.arange(10), 100)
    picked = init_gradients.balanced_indices(labels, size, seed=3)
    counts = np.bincount(labels[picked], minlength=10)
    assert counts.sum() == size and counts.max() - counts.min() <= 1
    assert len(set(picked.tolist())) == size
    np.testing.assert_array_equal(
        picked, init_gradients.balanced_indices(labels, size, seed=3)
    )
    assert not np.array_equal(np.sort(picked), np.arange(size))
    assert not np.array_equal(
        picked, init_gradients.balanced_indices(labels, size, seed=4)
    )


def test_too_small_class_is_refused(init_gradients):
    labels = np.array([0] * 50 + [1] * 3)
    with pytest.raises(ValueError, match="Received: probe_size=10"):
        init_gradients.balanced_indices(labels, 10, seed=0)


def test_chunked_norms_equal_one_gradient_tape_without_bn(init_gradients):
    """Without BN, chunks change nothing: the norms of the mean loss are exact."""
    keras.utils.set_random_seed(0)
    model = keras_resnet.build_model(
        "resnet18",
        normalization="none",
        width_multiplier=0.125,
        classifier_activation="linear",
    )
    rng = np.random.default_rng(0)
    images = rng.normal(size=(24, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 10, 24)
    norms, loss = init_gradients.kernel_norms(model, images, labels, batch_size=10)

    with tf.GradientTape() as tape:
        logits = model(images, training=True)
        expected_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
            labels, logits
        )
    layers = [model.get_layer(name) for name in norms]
    grads = tape.gradient(expected_loss, [layer.kernel for layer in layers])
    for layer, grad in zip(layers, grads, strict=True):
        np.testing.assert_allclose(
            norms[layer.name], float(tf.norm(grad)), rtol=1e-4, err_msg=layer.name
        )
    assert loss == pytest.approx(float(expected_loss), rel=1e-5)
    assert list(norms)[0] == "stem_conv" and list(norms)[-1] == "fc"


def test_profile_places_shortcuts_at_their_block(init_gradients):
    names = [
        "stem_conv",
        "stage2_block1_conv1",
        "stage2_block1_conv2",
        "stage2_block1_shortcut_conv",
        "fc",
    ]
    norms = dict(zip(names, [4.0, 2.0, 1.0, 3.0, 2.0], strict=True))
    data = init_gradients.profile(names, norms)
    assert data["relative_depth"]["stem_conv"] == 0.0
    assert data["relative_depth"]["fc"] == 1.0
    assert data["relative_depth"]["stage2_block1_shortcut_conv"] == pytest.approx(1 / 3)
    assert data["first_to_last"] == 2.0
    assert data["min_to_last"] == 0.5 and data["max_to_last"] == 2.0

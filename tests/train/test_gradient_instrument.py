"""The gradient instrument on TensorFlow: a fair probe, chunked probe norms
equal to a direct GradientTape, and the norms of the gradients training
applies. The same checks against ``jax.grad`` on the JAX backend run in
tests/train/test_engine_jax.py's JAX process."""

import json

import keras
import numpy as np
from train_helpers import tiny_config

from keras_resnet import build_model
from keras_resnet.callbacks import GradientNormRecorder, kernel_layers
from keras_resnet.data.splits import balanced_indices
from keras_resnet.train import train
from keras_resnet.train.optim import KernelL2SGD, with_gradient_norms


def test_balanced_indices_equal_counts_from_class_ordered_labels():
    labels = np.repeat(np.arange(10), 500)  # file order: all of class 0 first
    picked = balanced_indices(labels, 512, seed=3)
    counts = np.bincount(labels[picked], minlength=10)
    assert counts.sum() == 512 and counts.max() - counts.min() <= 1
    assert len(np.unique(picked)) == 512
    assert not np.array_equal(picked, balanced_indices(labels, 512, seed=4))
    np.testing.assert_array_equal(picked, balanced_indices(labels, 512, seed=3))


def test_balanced_indices_with_a_small_class_and_a_large_request():
    labels = np.array([0] * 3 + [1] * 100 + [2] * 100)
    counts = np.bincount(labels[balanced_indices(labels, 50, seed=0)])
    assert counts.tolist()[0] == 3 and sorted(counts[1:]) == [23, 24]
    assert len(balanced_indices(labels, 10_000, seed=0)) == len(labels)


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 32, 32, 3)).astype("float32")
    return x, rng.integers(0, 10, n)


def _model():
    keras.utils.set_random_seed(1)
    return build_model("mini_resnet", blocks_per_stage=1, width_multiplier=0.125)


def _direct_norms(model, x, y):
    """Per-kernel norms of the mean loss over ``x``, one GradientTape pass."""
    import tensorflow as tf

    loss = keras.losses.SparseCategoricalCrossentropy()
    kernels = [layer.kernel for layer in kernel_layers(model)]
    with tf.GradientTape() as tape:
        value = loss(y, model(x, training=True))
    grads = tape.gradient(value, [k.value for k in kernels])
    return [float(tf.norm(g)) for g in grads]


def test_probe_norms_equal_a_direct_gradient_tape():
    x, y = _data()
    model = _model()
    recorder = GradientNormRecorder((x, y), model=model, batch_size=len(y))
    norms = recorder.compute_norms()
    expected = _direct_norms(model, x, y)
    assert list(norms) == [layer.name for layer in kernel_layers(model)]
    np.testing.assert_allclose(list(norms.values()), expected, rtol=2e-5)


def test_chunked_probe_is_the_weighted_mean_of_chunk_gradients():
    """Chunks of 16, 16 and 8 images: the gradient of the mean loss over the
    probe is the size-weighted mean of the chunks' gradients."""
    import tensorflow as tf

    x, y = _data()
    model = _model()
    recorder = GradientNormRecorder((x, y), model=model, batch_size=16)
    norms = list(recorder.compute_norms().values())
    loss = keras.losses.SparseCategoricalCrossentropy()
    kernels = [layer.kernel.value for layer in kernel_layers(model)]
    total = [np.zeros(k.shape, "float64") for k in kernels]
    for start in range(0, 40, 16):
        xs, ys = x[start : start + 16], y[start : start + 16]
        with tf.GradientTape() as tape:
            value = loss(ys, model(xs, training=True))
        for acc, g in zip(total, tape.gradient(value, kernels), strict=True):
            acc += len(ys) / 40 * g.numpy()
    expected = [np.linalg.norm(g) for g in total]
    np.testing.assert_allclose(norms, expected, rtol=2e-5)


def _tracking_fit(epochs=2):
    x, y = _data(48)
    model = _model()
    paths = [layer.kernel.path for layer in kernel_layers(model)]
    optimizer = with_gradient_norms(KernelL2SGD)(
        learning_rate=0.0, tracked_kernels=paths
    )
    model.compile(optimizer, "sparse_categorical_crossentropy")
    recorder = GradientNormRecorder((x[:16], y[:16]), steps=[0])
    model.fit(x, y, batch_size=16, epochs=epochs, shuffle=False, verbose=0,
              callbacks=[recorder])  # fmt: skip
    return model, recorder, (x, y)


def test_training_norms_are_the_norms_of_the_applied_gradients():
    """With learning rate 0 the weights never move, so each step's applied
    gradient is the plain gradient of that batch: mean and max over the
    three batches of an epoch are known exactly."""
    model, recorder, (x, y) = _tracking_fit()
    assert [entry["epoch"] for entry in recorder.train] == [1, 2]
    per_batch = np.array(
        [_direct_norms(model, x[s : s + 16], y[s : s + 16]) for s in (0, 16, 32)]
    )
    names = [layer.name for layer in kernel_layers(model)]
    for entry in recorder.train:
        assert entry["steps"] == 3
        mean = [entry["mean"][n] for n in names]
        top = [entry["max"][n] for n in names]
        np.testing.assert_allclose(mean, per_batch.mean(axis=0), rtol=1e-4)
        np.testing.assert_allclose(top, per_batch.max(axis=0), rtol=1e-4)
    assert recorder.to_json()["train"] == recorder.train


def test_a_run_on_class_ordered_data_records_a_balanced_probe(tmp_path):
    config = tiny_config(
        tmp_path / "run", grad_probe_size=100, epochs=2, width_multiplier=0.125
    )
    result = train(config)
    saved = json.loads((result.run_dir / "gradient_norms.json").read_text())
    probe = saved["probe"]
    assert probe["size"] == 100 and probe["seed"] == config.seed
    counts = probe["class_counts"]
    assert sum(counts) == 100 and max(counts) - min(counts) <= 1
    assert [t["epoch"] for t in saved["train"]] == [1, 2]
    steps = result.metrics["epochs"] and saved["train"][0]["steps"]
    assert steps == 192 // 32
    for entry in saved["train"]:
        assert list(entry["mean"]) == saved["layers"]
        for name in saved["layers"]:
            assert np.isfinite(entry["mean"][name])
            assert 0 < entry["mean"][name] <= entry["max"][name]
    assert saved["records"][0]["epoch"] == 0 and saved["records"][-1]["epoch"] == 2

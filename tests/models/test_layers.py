"""The fused BatchNormalization: same numbers as Keras' layer, fused kernel on TF."""

import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet.models import layers as layers_module
from keras_resnet.models.layers import BatchNormalization, to_stock_layers

TF_ONLY = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="fused kernel is TensorFlow's"
)


def pair(shape, seed=0, **kwargs):
    """Keras' layer and ours, built for ``shape`` with the same random weights."""
    rng = np.random.default_rng(seed)
    channels = shape[kwargs.get("axis", -1)]
    values = {
        "gamma": rng.normal(size=channels),
        "beta": rng.normal(size=channels),
        "moving_mean": rng.normal(size=channels),
        "moving_variance": rng.uniform(0.5, 2.0, size=channels),
    }
    stock = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, **kwargs)
    ours = BatchNormalization(momentum=0.9, epsilon=1e-5, **kwargs)
    for layer in (stock, ours):
        layer.build(shape)
        for weight in layer.weights:
            name = weight.path.split("/")[-1]
            if name in values:
                weight.assign(values[name].astype("float32"))
    return stock, ours


def inputs(shape, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape) * 3.0 + 1.0).astype("float32")


def loss_and_grads(layer, x, training):
    """Forward output, and gradients w.r.t. input, gamma and beta.

    The loss is not linear in the output: with a linear one the training-mode
    gradients w.r.t. input and gamma are zero in exact arithmetic.
    """
    import tensorflow as tf

    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        weights = tf.range(y.shape[-1], dtype="float32") + 1.0
        loss = tf.reduce_sum(tf.sin(tf.cast(y, "float32")) * weights)
    grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
    return np.asarray(tf.cast(y, "float32")), [np.asarray(g) for g in grads]


@pytest.fixture
def fused_calls(monkeypatch):
    """Counts calls of TensorFlow's fused batch-norm op."""
    import tensorflow as tf

    calls = []
    real = tf.compat.v1.nn.fused_batch_norm

    def spy(*args, **kwargs):
        calls.append(kwargs.get("is_training"))
        return real(*args, **kwargs)

    monkeypatch.setattr(tf.compat.v1.nn, "fused_batch_norm", spy)
    return calls


@TF_ONLY
@pytest.mark.parametrize("training", [True, False])
def test_matches_keras_layer_in_float32(training, fused_calls):
    stock, ours = pair((16, 6, 6, 5))
    x = inputs((16, 6, 6, 5))
    y_stock, g_stock = loss_and_grads(stock, x, training)
    y_ours, g_ours = loss_and_grads(ours, x, training)
    assert fused_calls == [training]
    np.testing.assert_allclose(y_ours, y_stock, rtol=1e-5, atol=1e-5)
    for mine, theirs in zip(g_ours, g_stock, strict=True):
        np.testing.assert_allclose(
            mine, theirs, rtol=1e-4, atol=1e-5 * np.abs(theirs).max()
        )
    # Moving statistics: same update (biased batch variance, as in Keras).
    for mine, theirs in zip(ours.get_weights(), stock.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-6)


@TF_ONLY
def test_moving_statistics_move_like_keras_over_several_steps():
    stock, ours = pair((8, 4, 4, 3))
    for seed in range(5):
        x = inputs((8, 4, 4, 3), seed=seed)
        stock(x, training=True)
        ours(x, training=True)
    moving = ours.get_weights()[2:]
    assert not np.allclose(moving[1], pair((8, 4, 4, 3))[1].get_weights()[3])
    for mine, theirs in zip(moving, stock.get_weights()[2:], strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-6)


@TF_ONLY
@pytest.mark.parametrize("training", [True, False])
def test_mixed_bfloat16_matches_and_keeps_the_compute_dtype(training, fused_calls):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        stock, ours = pair((16, 6, 6, 5))
        x = inputs((16, 6, 6, 5))
        y_stock, g_stock = loss_and_grads(stock, x, training)
        y_ours, g_ours = loss_and_grads(ours, x, training)
        assert ours(x, training=training).dtype == stock(x, training=training).dtype
        assert "bfloat16" in str(ours(x).dtype)
    finally:
        keras.config.set_dtype_policy(previous)
    assert fused_calls[:1] == [training]
    # bfloat16 keeps 8 bits of mantissa: compare at that resolution.
    np.testing.assert_allclose(y_ours, y_stock, rtol=2e-2, atol=2e-2)
    for mine, theirs in zip(g_ours, g_stock, strict=True):
        np.testing.assert_allclose(
            mine, theirs, rtol=2e-2, atol=2e-2 * np.abs(theirs).max()
        )


@TF_ONLY
@pytest.mark.parametrize(
    "shape, kwargs, call_kwargs",
    [
        ((8, 5), {}, {}),  # rank 2
        ((8, 5, 4, 4), {"axis": 1}, {}),  # channels first
        ((8, 4, 4, 5), {"center": False, "scale": False}, {}),
        ((8, 4, 4, 5), {"renorm": True}, {}),
        ((8, 4, 4, 5), {}, {"mask": np.ones((8, 4, 4), bool)}),  # a mask
    ],
)
def test_falls_back_to_keras_where_the_kernel_does_not_apply(
    shape, kwargs, call_kwargs, fused_calls
):
    stock, ours = pair(shape, **kwargs)
    x = inputs(shape)
    for training in (True, False):
        expected = np.asarray(stock(x, training=training, **call_kwargs))
        actual = np.asarray(ours(x, training=training, **call_kwargs))
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)
    uses_kernel = len(shape) == 4 and kwargs.get("axis", -1) == -1
    uses_kernel = uses_kernel and not kwargs.get("renorm") and not call_kwargs
    assert bool(fused_calls) == uses_kernel


def test_same_config_and_weights_as_the_keras_layer():
    stock, ours = pair((2, 4, 4, 3))
    mine, theirs = ours.get_config(), stock.get_config()
    assert mine.pop("name") != theirs.pop("name")  # unique auto names
    assert mine == theirs
    assert [w.path.split("/")[-1] for w in ours.weights] == [
        w.path.split("/")[-1] for w in stock.weights
    ]


def test_models_are_built_from_it(tiny_model):
    model = tiny_model("resnet18")
    norms = [layer for layer in model.layers if "bn" in layer.name]
    assert len(norms) == 20
    assert all(type(layer) is BatchNormalization for layer in norms)


def test_keras_file_round_trip_keeps_the_class_and_outputs(tmp_path):
    model = keras_resnet.build_model(
        "mini_resnet", width_multiplier=0.25, blocks_per_stage=1
    )
    x = inputs((2, 32, 32, 3))
    model(x, training=True)  # move the batch-norm statistics off their init
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert {type(layer) for layer in loaded.layers if "bn" in layer.name} == {
        BatchNormalization
    }
    # Eager calls: the same numbers as predict, without tracing two graphs.
    np.testing.assert_array_equal(
        np.asarray(loaded(x, training=False)), np.asarray(model(x, training=False))
    )


def test_to_stock_layers_swaps_only_batch_norm_and_keeps_weights(tmp_path):
    model = keras_resnet.build_model(
        "mini_resnet", width_multiplier=0.25, blocks_per_stage=1
    )
    x = inputs((2, 32, 32, 3))
    model(x, training=True)
    stock = to_stock_layers(model)
    assert [layer.name for layer in stock.layers] == [
        layer.name for layer in model.layers
    ]
    kinds = {type(layer) for layer in stock.layers if "bn" in layer.name}
    assert kinds == {keras.layers.BatchNormalization}
    assert all(
        type(layer) is BatchNormalization
        for layer in model.layers
        if "bn" in layer.name
    )
    for mine, theirs in zip(stock.weights, model.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
    np.testing.assert_allclose(
        stock(x, training=False), model(x, training=False), rtol=1e-5, atol=1e-6
    )
    stock.save(tmp_path / "stock.keras")
    with zipfile.ZipFile(tmp_path / "stock.keras") as archive:
        assert "keras_resnet" not in archive.read("config.json").decode()


def test_to_stock_layers_converts_nested_models():
    inner = keras_resnet.build_model(
        "mini_resnet", width_multiplier=0.25, blocks_per_stage=1
    )
    pixels = keras.Input((32, 32, 3))
    outer = keras.Model(pixels, inner(keras.layers.Rescaling(1 / 255)(pixels)))
    stock = to_stock_layers(outer)

    def fused(model):
        found = []
        for layer in model.layers:
            if isinstance(layer, keras.Model):
                found += fused(layer)
            elif isinstance(layer, BatchNormalization):
                found.append(layer)
        return found

    assert fused(outer) and not fused(stock)
    x = inputs((2, 32, 32, 3))
    np.testing.assert_allclose(
        stock(x, training=False), outer(x, training=False), rtol=1e-5, atol=1e-6
    )


def test_models_and_layers_import_without_tensorflow():
    # One fresh process for both: the models package, then the layer in use.
    code = (
        "import sys, keras_resnet.models; "
        "assert 'tensorflow' not in sys.modules; "
        "import keras_resnet.models.layers as m; "
        "m.BatchNormalization()(__import__('numpy').ones((2, 3, 3, 4)), training=True); "
        "print('tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"KERAS_BACKEND": "jax", "PATH": ""},
        check=True,
    )
    assert result.stdout.strip() == "False"
    assert layers_module.__name__ == "keras_resnet.models.layers"

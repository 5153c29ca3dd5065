import json

import keras
import numpy as np
import pytest
import tensorflow as tf
import tiny

from keras_resnet.callbacks import GradientNormRecorder

NUM = 64


def data():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (NUM, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, NUM)
    return x, y


def tiny_model():
    model = tiny.tiny_model()  # seeded, 1/8 width
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def fit(callbacks, epochs=2):
    x, y = data()
    model = tiny_model()
    history = model.fit(
        x,
        y,
        batch_size=16,
        epochs=epochs,
        shuffle=False,
        verbose=0,
        callbacks=callbacks,
    )
    return model, history


def test_recorder_leaves_weights_and_batchnorm_statistics_untouched():
    plain, _ = fit([])
    x, y = data()
    recorder = GradientNormRecorder((x[:16], y[:16]), steps=[0, 1, 3])
    probed, _ = fit([recorder])
    assert len(recorder.records) == 5
    names = [w.path for w in plain.weights]
    assert any("moving_mean" in n for n in names)
    assert names == [w.path for w in probed.weights]
    for a, b in zip(plain.get_weights(), probed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_records_follow_the_step_and_epoch_semantics(tmp_path):
    x, y = data()
    path = tmp_path / "gradient_norms.json"
    recorder = GradientNormRecorder(
        (x[:16], y[:16]), steps=[2, 50], every_epochs=2, path=path
    )
    _, history = fit([recorder], epochs=3)
    assert [(r["epoch"], r["step"]) for r in recorder.records] == [
        (0, 0),
        (0, 2),
        (2, 0),
    ]
    saved = json.loads(path.read_text())
    assert saved["layers"][0] == "stem_conv" and saved["layers"][-1] == "fc"
    assert len(saved["layers"]) == 10
    assert all(list(r["norms"]) == saved["layers"] for r in saved["records"])
    # History: the grad-norm keys appear on the epochs that recorded.
    first = history.history["grad_norm/stem_conv"]
    assert len(first) == 1
    assert first[0] == pytest.approx(recorder.records[-1]["norms"]["stem_conv"])


def test_norms_match_a_direct_gradient_tape_computation():
    x, y = data()
    model = tiny_model()
    recorder = GradientNormRecorder((x[:16], y[:16]))
    recorder.set_model(model)
    norms = recorder.compute_norms()
    moving = [v.numpy().copy() for v in model.non_trainable_variables]
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    with tf.GradientTape() as tape:
        loss = loss_fn(y[:16], model(x[:16], training=True))
    kernels = [model.get_layer(name).kernel for name in recorder.layers]
    grads = tape.gradient(loss, kernels)
    for v, value in zip(model.non_trainable_variables, moving, strict=True):
        v.assign(value)  # the direct call moved the BN statistics; undo
    expected = [float(tf.norm(g)) for g in grads]
    assert list(norms.values()) == pytest.approx(expected, rel=1e-4)
    assert recorder.layers == [
        layer.name for layer in model.layers if hasattr(layer, "kernel")
    ]


def test_nested_models_are_flattened_in_depth_order():
    inner = tiny_model()
    inputs = keras.Input((32, 32, 3))
    outer = keras.Model(inputs, inner(keras.layers.Rescaling(1.0)(inputs)))
    x, y = data()
    recorder = GradientNormRecorder((x[:8], y[:8]), model=outer)
    recorder.set_model(outer)
    norms = recorder.compute_norms()
    assert list(norms)[0] == "stem_conv" and list(norms)[-1] == "fc"
    assert all(value > 0 for value in norms.values())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"every_epochs": -1}, "every_epochs=-1"),
        ({"steps": [1, -2]}, "steps=[1, -2]"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, message):
    x, y = data()
    with pytest.raises(
        ValueError, match=rf"Received: {message.replace('[', '.').replace(']', '.')}"
    ):
        GradientNormRecorder((x[:4], y[:4]), **kwargs)


def test_probe_must_be_non_empty_and_aligned():
    x, y = data()
    with pytest.raises(ValueError, match="Received: probe="):
        GradientNormRecorder((x[:4], y[:3]))

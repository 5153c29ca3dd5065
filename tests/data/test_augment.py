import keras
import numpy as np
import pytest

from keras_resnet.augment import (
    Cutout,
    RandomCropFlip,
    build_augmentation,
    build_normalization,
)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(1, 256, (6, 16, 16, 3), dtype=np.uint8)


def _run(layer, x, training=True):
    return keras.ops.convert_to_numpy(layer(x, training=training))


def test_crop_flip_outputs_are_shifted_windows(images):
    layer = RandomCropFlip(seed=1)
    out = _run(layer, images)
    assert out.shape == images.shape and out.dtype == np.uint8
    padded = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)))
    for image, result in zip(padded, out, strict=True):
        windows = [
            w
            for dy in range(9)
            for dx in range(9)
            for w in (image[dy : dy + 16, dx : dx + 16],)
        ]
        assert any(
            np.array_equal(result, w) or np.array_equal(result, w[:, ::-1])
            for w in windows
        )


def test_same_seed_same_batches_and_steps_differ(images):
    a, b = RandomCropFlip(seed=3), RandomCropFlip(seed=3)
    first_a, first_b = _run(a, images), _run(b, images)
    assert np.array_equal(first_a, first_b)
    assert not np.array_equal(_run(a, images), first_a)  # step 1 differs from step 0
    assert int(keras.ops.convert_to_numpy(a.step)) == 2
    assert not np.array_equal(_run(RandomCropFlip(seed=4), images), first_a)


def test_counter_restores_the_random_stream(images):
    layer = RandomCropFlip(seed=2)
    _run(layer, images)
    expected_next = _run(layer, images)
    fresh = RandomCropFlip(seed=2)
    fresh.build(images.shape)
    fresh.step.assign(1)  # what restoring the weights does
    assert np.array_equal(_run(fresh, images), expected_next)


def test_identity_when_not_training(images):
    for layer in (RandomCropFlip(seed=0), Cutout(6, seed=0)):
        assert np.array_equal(_run(layer, images, training=False), images)


def test_cutout_fills_a_clipped_square(images):
    out = _run(Cutout(6, fill_value=0.0, seed=5), images)
    changed = (out != images).any(-1)
    for mask in changed:
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        assert 1 <= len(rows) <= 6 and 1 <= len(cols) <= 6
        assert mask.sum() == len(rows) * len(cols)  # a rectangle
    assert np.all(out[changed] == 0)


def test_get_config_round_trip():
    crop = RandomCropFlip(padding=2, flip=False, seed=9, name="crop")
    clone = RandomCropFlip.from_config(crop.get_config())
    assert (clone.padding, clone.flip, clone.seed, clone.name) == (2, False, 9, "crop")
    cut = Cutout(5, fill_value=3.0, seed=4)
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(cut)
    )
    assert isinstance(clone, Cutout)
    assert (clone.size, clone.fill_value, clone.seed) == (5, 3.0, 4)


def test_saved_model_keeps_counter(tmp_path, images):
    inputs = keras.Input((16, 16, 3), dtype="uint8")
    model = keras.Model(inputs, build_augmentation(cutout=4, seed=1)(inputs))
    model(images, training=True)
    path = tmp_path / "aug.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    steps = [int(keras.ops.convert_to_numpy(w)) for w in loaded.weights]
    assert steps == [1, 1]
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(images, training=True)),
        keras.ops.convert_to_numpy(model(images, training=True)),
    )


def test_runs_in_a_jit_compiled_train_step(images):
    inputs = keras.Input((16, 16, 3), dtype="uint8")
    x = build_augmentation(cutout=4, seed=0)(inputs)
    x = build_normalization([120.0] * 3, [60.0] * 3)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    model.compile("sgd", "sparse_categorical_crossentropy", jit_compile=True)
    assert model.jit_compile  # Keras silently turns XLA off under op determinism
    history = model.fit(images, np.arange(6) % 10, batch_size=3, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    counters = [int(keras.ops.convert_to_numpy(w)) for w in model.non_trainable_weights]
    assert counters == [4, 4]  # two layers, four train steps


def test_build_augmentation_variants():
    assert build_augmentation(augment="none") is None
    assert isinstance(build_augmentation(), RandomCropFlip)
    assert isinstance(build_augmentation(augment="none", cutout=8), Cutout)
    both = build_augmentation(cutout=8, seed=2)
    assert both.name == "augmentation" and len(both.layers) == 2
    with pytest.raises(ValueError, match="cutout=-1"):
        build_augmentation(cutout=-1)


def test_normalization_layer():
    layer = build_normalization([10.0, 20.0, 30.0], [2.0, 4.0, 5.0])
    out = keras.ops.convert_to_numpy(layer(np.full((1, 2, 2, 3), 40, dtype=np.uint8)))
    np.testing.assert_allclose(out[0, 0, 0], [15.0, 5.0, 2.0], rtol=1e-5)
    assert layer.name == "normalization"
    with pytest.raises(ValueError, match=r"entry > 0 .*Received: std=\[0\.0\]$"):
        build_normalization([1.0], [0.0])
    with pytest.raises(ValueError, match=r"Received: std=\[1\.0\]$"):
        build_normalization([1.0, 2.0], [1.0])


def test_augment_choices_are_written_once():
    """The layer builder, the training config and the CLI share one list."""
    from keras_resnet.cli.options import _FIELD_OPTIONS
    from keras_resnet.data.choices import AUGMENTS
    from keras_resnet.train.config import TrainConfig

    option = next(spec for name, _, spec in _FIELD_OPTIONS if name == "augment")
    assert tuple(option["type"].choices) == AUGMENTS == ("standard", "none")
    message = "augment must be one of standard, none. Received: augment='autoaugment'"
    for build in (build_augmentation, TrainConfig):
        with pytest.raises(ValueError, match=message):
            build(augment="autoaugment")

"""Helpers shared by the export tests: a tiny classifier, run dirs, images."""

import json

import keras
import numpy as np

import keras_resnet

CLASS_NAMES = ["airplane", "bird", "cat"]
MEAN = np.array([125.3, 123.0, 113.9], np.float32)
STD = np.array([63.0, 62.1, 66.7], np.float32)


def normalization_layer():
    """The engine's normalization layer (keras_resnet.augment when present)."""
    try:
        from keras_resnet.augment import build_normalization
    except ImportError:
        return keras.layers.Normalization(
            mean=MEAN, variance=np.square(STD), name="normalization"
        )
    return build_normalization(MEAN, STD)


IMAGE_SIZE = 16


def build_classifier(num_classes=3, image_size=IMAGE_SIZE):
    """Raw pixels -> normalization -> a tiny residual net, as the engine builds it.

    ResNet-8 (one block per stage) at 1/8 width: export does not depend on
    the architecture, and on the JAX backend every variable's initializer
    is compiled on its own, so few layers keep the JAX export test short.
    """
    pixels = keras.Input((image_size, image_size, 3), name="pixels")
    normalized = normalization_layer()(pixels)
    return keras_resnet.build_model(
        "mini_resnet",
        blocks_per_stage=1,
        input_tensor=normalized,
        width_multiplier=0.125,
        num_classes=num_classes,
    )


def train_briefly(model, seed=0):
    """A few SGD steps so weights and batch-norm statistics leave their init."""
    rng = np.random.default_rng(seed)
    size = model.input_shape[1:3]
    images = rng.integers(0, 256, (32, *size, 3)).astype(np.float32)
    labels = rng.integers(0, model.output_shape[-1], 32)
    model.compile(
        optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy"
    )
    model.fit(images, labels, batch_size=16, epochs=2, verbose=0)
    return model


def write_run_dir(path, model, class_names=CLASS_NAMES):
    """model.keras + dataset.json, the part of a run directory export reads."""
    path.mkdir(parents=True, exist_ok=True)
    model.save(path / "model.keras")
    dataset = {
        "name": "fake",
        "class_names": list(class_names),
        "num_classes": len(class_names),
        "image_shape": list(model.input_shape[1:]),
        "mean": MEAN.tolist(),
        "std": STD.tolist(),
    }
    (path / "dataset.json").write_text(json.dumps(dataset))
    return path


def uint8_images(batch, height, width, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (batch, height, width, 3), dtype=np.uint8)


def keras_reference(model, images):
    """The classifier's probabilities on images resized as the export does."""
    import tensorflow as tf

    size = model.input_shape[1:3]
    pixels = tf.image.resize(tf.cast(images, tf.float32), size, method="bilinear")
    return np.asarray(model(pixels, training=False), np.float32)


# Run several ``keras-resnet`` commands, one after the other, in ONE new
# interpreter: each call's own exit status and fd 1 / fd 2 output (Python's
# and TensorFlow's C++ logs alike) are captured apart and printed as JSON.

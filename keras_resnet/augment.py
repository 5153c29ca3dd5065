"""Augmentation that runs on the device, inside the compiled train step.

Layers here take raw pixels (any dtype, usually uint8) in ``(B, H, W, C)``
batches, are built from ``keras.ops`` only (TensorFlow, JAX and PyTorch
backends, XLA-compilable) and are the identity when ``training`` is false.

Their randomness is *resumable*: each layer draws from a stateless generator
keyed by ``(seed, step)``, where ``step`` is a non-trainable weight the layer
increments once per training call. The counter is saved with the model
weights (and by ``BackupAndRestore``), so a resumed run continues the same
random stream, unlike a ``keras.random.SeedGenerator``, whose state
``BackupAndRestore`` does not restore.

Mixup and CutMix change the labels, so they are not model layers: they run
in the input pipeline (``keras_resnet.data.mixing.mix_batch``, one NumPy
implementation for ``tf.data`` and the NumPy loader).
"""

from __future__ import annotations

import functools

import keras
from keras import ops

from keras_resnet._validation import check_choice, check_int, fail
from keras_resnet.data.choices import AUGMENTS


class _StatelessSeed(keras.random.SeedGenerator):
    """A fixed seed tensor in the form ``keras.random`` accepts.

    ``keras.random`` only takes integers or seed generators; this one returns
    the given tensor and holds no state, which makes the draws stateless.
    """

    def __init__(self, seed_tensor):  # no super().__init__: no state variable
        self._seed_tensor = seed_tensor

    def next(self, ordered=True):
        return self._seed_tensor


@functools.cache
def _seed_dtype() -> str:
    """The dtype of ``keras.random`` seeds on this backend (int64, uint32, ...).

    Read from a public ``SeedGenerator``'s state, once per process. The layers
    call it in ``__init__`` so that it never first runs inside a traced step
    (creating a variable there is not allowed).
    """
    return keras.random.SeedGenerator(0).state.dtype


def stateless_seed(seed: int, counter) -> keras.random.SeedGenerator:
    """A seed for ``keras.random`` functions that depends only on ``(seed, counter)``."""
    pair = ops.stack(
        [ops.convert_to_tensor(seed % 2**31, "int32"), ops.cast(counter, "int32")]
    )
    return _StatelessSeed(ops.cast(pair, _seed_dtype()))


class _CountingAugmentation(keras.layers.Layer):
    """Base: a ``step`` counter weight and a per-layer salted seed."""

    _SALT = 0

    def __init__(self, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(seed, bool) or not isinstance(seed, int):
            fail("seed", seed, "must be an integer")
        _seed_dtype()  # cached now, outside any traced call
        self.seed = seed
        self.supports_masking = True

    def build(self, input_shape):
        self.step = self.add_weight(
            name="step",
            shape=(),
            dtype="int32",
            initializer="zeros",
            trainable=False,
        )

    def _next_seed(self):
        """The seed of this training call; advances the counter."""
        step = ops.convert_to_tensor(self.step)
        self.step.assign(step + 1)
        return stateless_seed(self.seed * 7919 + self._SALT, step)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_resnet")
class RandomCropFlip(_CountingAugmentation):
    """Zero-pad, randomly crop back to size, and randomly flip left-right.

    The standard CIFAR augmentation (He et al. 2016, section 4.2): pad 4
    pixels on each side, take a random crop of the original size, flip
    horizontally with probability 1/2. Each image of the batch gets its own
    offsets; it is one gather per batch.

    Args:
        padding: Pixels of zero padding on each side.
        flip: Also flip left-right with probability 1/2.
        seed: Seed of the random stream.
    """

    _SALT = 1

    def __init__(self, padding: int = 4, flip: bool = True, seed: int = 0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        check_int("padding", padding, minimum=0)
        self.padding = padding
        self.flip = bool(flip)

    def call(self, images, training=None):
        if not training:
            return images
        batch = ops.shape(images)[0]
        height, width = images.shape[1], images.shape[2]
        draws = keras.random.uniform((batch, 3), seed=self._next_seed())
        offsets = ops.cast(draws[:, :2] * (2 * self.padding + 1), "int32")
        pad = self.padding
        padded = ops.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        rows = offsets[:, :1] + ops.arange(height, dtype="int32")[None, :]
        across = ops.arange(width, dtype="int32")[None, :]
        if self.flip:
            across = ops.where(draws[:, 2:] < 0.5, width - 1 - across, across)
        cols = offsets[:, 1:] + across
        out = ops.take_along_axis(padded, rows[:, :, None, None], axis=1)
        return ops.take_along_axis(out, cols[:, None, :, None], axis=2)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "flip": self.flip}


@keras.saving.register_keras_serializable(package="keras_resnet")
class Cutout(_CountingAugmentation):
    """Fill one random square per image (DeVries & Taylor 2017).

    The square's centre is uniform over the image and it is clipped at the
    borders. The paper cuts out *normalized* images, i.e. fills with the
    dataset mean; these layers see raw pixels, so the default fill 128 is
    close to the CIFAR mean.

    Args:
        size: Side of the square in pixels.
        fill_value: Pixel value written into the square.
        seed: Seed of the random stream.
    """

    _SALT = 2

    def __init__(self, size: int, fill_value: float = 128.0, seed: int = 0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        check_int("size", size)
        self.size = size
        self.fill_value = float(fill_value)

    def call(self, images, training=None):
        if not training:
            return images
        batch = ops.shape(images)[0]
        height, width = images.shape[1], images.shape[2]
        centre = keras.random.uniform((batch, 2), seed=self._next_seed())
        cy = ops.cast(centre[:, :1] * height, "int32") - self.size // 2
        cx = ops.cast(centre[:, 1:] * width, "int32") - self.size // 2
        rows = ops.arange(height, dtype="int32")[None, :] - cy
        cols = ops.arange(width, dtype="int32")[None, :] - cx
        in_rows = (rows >= 0) & (rows < self.size)
        in_cols = (cols >= 0) & (cols < self.size)
        mask = in_rows[:, :, None, None] & in_cols[:, None, :, None]
        fill = ops.cast(self.fill_value, images.dtype)
        return ops.where(mask, fill, images)

    def get_config(self):
        config = super().get_config()
        return {**config, "size": self.size, "fill_value": self.fill_value}


def build_augmentation(
    *, augment: str = "standard", cutout: int = 0, seed: int = 0
) -> keras.layers.Layer | None:
    """The training-only augmentation the engine puts before the classifier.

    Args:
        augment: ``"standard"`` (4-pixel pad-and-crop + horizontal flip) or
            ``"none"``.
        cutout: Side of the cutout square in pixels (0: off).
        seed: Seed of the augmentation streams.

    Returns:
        One layer, a ``keras.Sequential`` named ``"augmentation"`` of two, or
        None when there is nothing to do.
    """
    check_choice("augment", augment, AUGMENTS)
    check_int("cutout", cutout, minimum=0)
    layers = []
    if augment == "standard":
        layers.append(RandomCropFlip(seed=seed, name="random_crop_flip"))
    if cutout:
        layers.append(Cutout(cutout, seed=seed, name="cutout"))
    if len(layers) > 1:
        return keras.Sequential(layers, name="augmentation")
    return layers[0] if layers else None


def build_normalization(mean, std) -> keras.layers.Normalization:
    """Per-channel ``(x - mean) / std`` on raw pixels, a layer named "normalization".

    ``keras_resnet.models.layers.build_normalization``, under the data
    pipeline's name (imported on call: the package's serialization hook
    imports this module while ``keras_resnet.models.layers`` imports Keras).

    Args:
        mean: Per-channel mean in pixel units (``DatasetSplits.mean``).
        std: Per-channel standard deviation in pixel units.
    """
    from keras_resnet.models import layers

    return layers.build_normalization(mean, std)

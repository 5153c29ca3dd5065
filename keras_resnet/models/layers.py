"""Layers the package's models are built from, beyond stock Keras.

``BatchNormalization`` is Keras' own layer with one difference: on the
TensorFlow backend it runs TensorFlow's fused batch-norm kernel
(``FusedBatchNormV3``: oneDNN on a CPU, cuDNN on a GPU) instead of the
unfused chain of element-wise ops that Keras 3 builds. The numbers are the
same as Keras' layer (the moving variance is the biased batch variance, as
in Keras, not the unbiased one the fused kernel returns); only the speed
differs. On a 2-core AVX-512 CPU it trains ResNet-18 1.10x faster in
float32 and 1.24x faster in ``mixed_bfloat16`` (see ``docs/benchmarks.md``).

On the JAX and PyTorch backends, and for inputs the fused kernel does not
take (a mask, renorm, synchronized statistics, a normalized axis other than
the last of a 4-D tensor, float64), the layer is Keras' layer unchanged.

A model saved as ``.keras`` with this layer names its class; such a file
loads after ``import keras_resnet`` (which registers the class, see
``keras_resnet/__init__.py``). The training engine saves every ``.keras``
file through :func:`to_stock_layers`, so the files of a run hold Keras'
own layer and load in plain Keras without this package.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_resnet._validation import fail

_FUSED_DTYPES = ("float16", "bfloat16", "float32")


@keras.saving.register_keras_serializable(package="keras_resnet")
class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` with TensorFlow's fused kernel.

    Takes exactly the arguments of ``keras.layers.BatchNormalization`` and
    keeps the same weights (``gamma``, ``beta``, ``moving_mean``,
    ``moving_variance``), so weights move freely between the two.
    """

    def call(self, inputs, training=None, mask=None):
        if not self._can_fuse(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = tf.cast(inputs, self.compute_dtype)
        channels = x.shape[-1]
        scale = (
            tf.cast(self.gamma, "float32")
            if self.scale
            else tf.ones([channels], "float32")
        )
        offset = (
            tf.cast(self.beta, "float32")
            if self.center
            else tf.zeros([channels], "float32")
        )
        if training and self.trainable:
            outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                x, scale, offset, epsilon=self.epsilon, is_training=True
            )
            # The fused kernel returns the unbiased (Bessel-corrected) batch
            # variance; Keras' moving variance averages the biased one.
            count = tf.cast(tf.size(x) // channels, "float32")
            variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
            momentum = self.momentum
            self.moving_mean.assign(
                self.moving_mean * momentum + mean * (1.0 - momentum)
            )
            self.moving_variance.assign(
                self.moving_variance * momentum + variance * (1.0 - momentum)
            )
        else:
            outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x,
                scale,
                offset,
                mean=tf.cast(self.moving_mean, "float32"),
                variance=tf.cast(self.moving_variance, "float32"),
                epsilon=self.epsilon,
                is_training=False,
            )
        return outputs

    def _can_fuse(self, inputs, mask) -> bool:
        rank = len(inputs.shape)
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and not self.renorm
            and not self.synchronized
            and rank == 4
            and self.axis in (-1, rank - 1)
            and inputs.shape[-1] is not None
            and self.compute_dtype in _FUSED_DTYPES
        )


def to_stock_layers(model: keras.Model) -> keras.Model:
    """``model`` with every batch-norm layer of this module made a Keras one.

    Same architecture, layer names and weights; the result saves to a
    ``.keras`` file that plain Keras loads without this package. The other
    layers (and so their weights) are shared with ``model``, not copied;
    nested models are converted too.

    Args:
        model: A functional model, e.g. from :func:`keras_resnet.build_model`.

    Returns:
        A new functional model; ``model`` itself is left as it was.
    """
    swapped = []

    def clone(layer):
        if isinstance(layer, BatchNormalization):
            stock = keras.layers.BatchNormalization.from_config(layer.get_config())
            swapped.append((stock, layer))
            return stock
        if isinstance(layer, keras.Model):
            return to_stock_layers(layer)
        return layer

    copy = keras.models.clone_model(model, clone_function=clone)
    for stock, fused in swapped:
        stock.set_weights(fused.get_weights())
    return copy


def build_normalization(
    mean: Sequence[float], std: Sequence[float]
) -> keras.layers.Normalization:
    """Per-channel ``(x - mean) / std`` on raw pixels, a layer named "normalization".

    The layer a training run puts first in its classifier (after
    augmentation, before the backbone), and the one a model built with
    pretrained weights starts with, so both take raw pixels.

    Args:
        mean: Per-channel mean in pixel units.
        std: Per-channel standard deviation in pixel units (each > 0).

    Raises:
        ValueError: For an empty ``mean`` or a ``std`` that does not match it.
    """
    mean, std = [float(m) for m in mean], [float(s) for s in std]
    if not mean:
        fail("mean", mean, "must have one entry per channel")
    if len(std) != len(mean) or min(std) <= 0:
        fail("std", std, f"must have one entry > 0 per channel of mean={mean}")
    return keras.layers.Normalization(
        mean=mean, variance=[s * s for s in std], name="normalization"
    )

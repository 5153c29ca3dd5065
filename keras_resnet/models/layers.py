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

:func:`avoid_strided_1x1_bug` keeps narrow strided 1x1 convolutions away
from a oneDNN kernel that gets their weight gradient wrong and writes past
its workspace (https://github.com/uxlfoundation/oneDNN/issues/6035, open):
the AVX2/AVX-512 weight-gradient kernel of a 1x1 convolution with stride
> 1 on channels-last inputs with fewer input channels than its SIMD block
(8 floats on AVX2, 16 on AVX-512), such as the projection shortcuts of a
narrow ``mini_resnet``. TensorFlow runs it whenever oneDNN is on, as it is
by default on AVX-512 CPUs. Every builder of the package applies the
workaround to the model it returns (``assemble``), so such a model trains
correctly with plain ``model.fit``; ``train()`` applies it again to
whatever it trains. It changes no configuration and no weight: saved files
are the same.
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


# The largest SIMD block of the buggy kernel (AVX-512: 16 floats).
_SAFE_INPUT_CHANNELS = 16


def onednn_enabled() -> bool | None:
    """Whether TensorFlow runs its CPU ops with oneDNN (None when the Keras
    backend is not TensorFlow, or TensorFlow cannot say)."""
    if keras.backend.backend() != "tensorflow":
        return None
    try:
        # TensorFlow's own switch (the one behind "oneDNN custom operations
        # are on"); there is no public equivalent.
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def avoid_strided_1x1_bug(model: keras.Model) -> list[str]:
    """Compute narrow strided 1x1 convolutions of ``model`` without the
    oneDNN kernel that gets their weight gradient wrong.

    Each built ``Conv2D`` with a 1x1 kernel, stride > 1, channels-last data
    and fewer than 16 input channels computes ``conv(x[:, ::s, ::s],
    stride 1)`` instead: the same outputs (a 1x1 window never pads), the
    same weights and config, so saved files do not change. Only the layer
    objects of this process change, and only while oneDNN is on: a model
    cloned or loaded from a file needs the call again. A second call
    changes nothing more. The package's builders call it on every model
    they return; call it on a model from elsewhere before training it.

    Args:
        model: The model to be trained (nested models included).

    Returns:
        The names of the layers changed (empty when oneDNN is off).
    """
    if not onednn_enabled():
        return []
    changed = []
    for layer in _leaf_layers(model):
        if _at_risk(layer):
            layer.convolution_op = _strided_slice_conv(layer)
            changed.append(layer.name)
    return changed


def _leaf_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


def _at_risk(layer) -> bool:
    return (
        type(layer) is keras.layers.Conv2D
        and layer.built
        and tuple(layer.kernel_size) == (1, 1)
        and tuple(layer.strides) != (1, 1)
        and tuple(layer.dilation_rate) == (1, 1)
        and layer.groups == 1
        and layer.data_format == "channels_last"
        and layer.kernel.shape[2] < _SAFE_INPUT_CHANNELS
    )


def _strided_slice_conv(layer):
    rows, columns = layer.strides

    def convolution_op(inputs, kernel):
        return keras.ops.conv(
            inputs[:, ::rows, ::columns, :],
            kernel,
            strides=1,
            padding="valid",
            data_format="channels_last",
        )

    return convolution_op

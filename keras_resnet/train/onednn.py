"""oneDNN on TensorFlow's CPU path: a note when it is off, one kernel bug avoided.

``keras-resnet`` sets ``TF_ENABLE_ONEDNN_OPTS=1`` unless the user set it
(importing the library changes no setting): TensorFlow turns
oneDNN on by itself only on CPUs with AVX-512, and without it convolutions
train about 1.8x slower on an AVX2 CPU (docs/benchmarks.md).

oneDNN's AVX2/AVX-512 kernel for the weight gradient of a 1x1 convolution
with stride > 1 on channels-last inputs with fewer input channels than its
SIMD block (8 floats on AVX2, 16 on AVX-512) computes wrong gradients and
writes past its workspace (https://github.com/uxlfoundation/oneDNN/issues/6035,
open). Such layers (narrow projection shortcuts) are computed as a stride-1
convolution of the strided slice, which is the same function and never
reaches that kernel.
"""

from __future__ import annotations

import logging
import os

import keras

from keras_resnet import ONEDNN_VARIABLE

# The largest SIMD block the buggy kernel uses (AVX-512, 16 floats).
_SAFE_INPUT_CHANNELS = 16
_LOG = logging.getLogger(__name__)


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


def warn_if_off() -> str | None:
    """Log one line when TensorFlow was imported with oneDNN off although the
    user did not ask for that (``TF_ENABLE_ONEDNN_OPTS`` unset).

    Returns:
        The line logged, or None.
    """
    if ONEDNN_VARIABLE in os.environ or onednn_enabled() is not False:
        return None
    note = (
        "TensorFlow was imported with oneDNN off (convolutions train about "
        f"1.8x slower on an AVX2 CPU); set {ONEDNN_VARIABLE}=1 before "
        "importing TensorFlow to turn it on (the keras-resnet command does), "
        f"or {ONEDNN_VARIABLE}=0 to keep it off without this note"
    )
    _LOG.warning(note)
    return note


def avoid_strided_1x1_bug(model: keras.Model) -> list[str]:
    """Compute narrow strided 1x1 convolutions of ``model`` without the
    oneDNN kernel that gets their weight gradient wrong.

    Each ``Conv2D`` with a 1x1 kernel, stride > 1, channels-last data and
    fewer than 16 input channels computes ``conv(x[:, ::s, ::s], stride 1)``
    instead: the same outputs (a 1x1 window never pads), the same weights
    and config, so saved files do not change. Only the layer objects of
    this process are affected, and only while oneDNN is on.

    Args:
        model: The model to be trained.

    Returns:
        The names of the layers changed (empty when oneDNN is off).
    """
    if not onednn_enabled():
        return []
    changed = []
    for layer in _layers(model):
        if _at_risk(layer):
            layer.convolution_op = _strided_slice_conv(layer)
            changed.append(layer.name)
    return changed


def _layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        else:
            yield layer


def _at_risk(layer) -> bool:
    return (
        type(layer) is keras.layers.Conv2D
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

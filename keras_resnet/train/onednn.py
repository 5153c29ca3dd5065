"""oneDNN on TensorFlow's CPU path: a note when training runs without it.

``keras-resnet`` sets ``TF_ENABLE_ONEDNN_OPTS=1`` unless the user set it
(importing the library changes no setting): TensorFlow turns
oneDNN on by itself only on CPUs with AVX-512, and without it convolutions
train about 1.8x slower on an AVX2 CPU (docs/benchmarks.md).

The oneDNN kernel bug that concerns these models (narrow strided 1x1
convolutions) is avoided where models are built:
``keras_resnet.models.layers.avoid_strided_1x1_bug``.
"""

from __future__ import annotations

import logging
import os

from keras_resnet import ONEDNN_VARIABLE
from keras_resnet.models.layers import onednn_enabled

_LOG = logging.getLogger(__name__)


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

"""The one private factory every builder calls.

It owns what keras.applications builders share: argument validation, the
input (``input_shape`` / ``input_tensor``), the head (``include_top``,
``pooling``, ``num_classes``, ``classifier_activation``) and loading
``weights``. A builder only supplies ``stack(x) -> x``, the body between
input and head.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import keras

from keras_resnet._validation import check_int
from keras_resnet.models.blocks import POOLING_MODES, classifier_head

DEFAULT_INPUT_SHAPE = (32, 32, 3)
MIN_SIZE = 32
# Parameters grow with the square of the width: ResNet-18 has 11.2M at width
# 1 and 2.86G at width 16 (11.4 GB of float32 weights, before gradients and
# optimizer slots), already beyond one accelerator for training. Beyond it a
# model fails deep inside the backend (TensorFlow's ResourceExhaustedError),
# so it is refused up front.
MAX_WIDTH_MULTIPLIER = 16.0
_WHY_AT_MOST = {
    "width_multiplier": " (parameters grow with its square; resnet18 at 16 has "
    "2.9G parameters)"
}


def assemble(
    stack: Callable,
    *,
    name: str,
    include_top: bool = True,
    input_shape: tuple | None = None,
    input_tensor=None,
    pooling: str | None = None,
    num_classes: int = 10,
    classifier_activation: str | None = "softmax",
    weights: str | os.PathLike | None = None,
    dropout: float = 0.0,
) -> keras.Model:
    """Validate the common arguments, wire input, body and head, load weights.

    Args:
        stack: Function mapping the input tensor to the final feature map.
        name: Model name.
        include_top: Whether to add global average pooling and the
            ``num_classes``-way dense classifier.
        input_shape: ``(height, width, channels)``; default ``(32, 32, 3)``.
            Height and width must be at least 32 (or None for any size).
        input_tensor: Optional Keras tensor to use as the model input.
        pooling: Without the top: None (feature map), ``"avg"`` or ``"max"``.
        num_classes: Classes of the classifier.
        classifier_activation: Activation of the ``predictions`` layer
            (``None`` returns logits).
        weights: None, or the path of a ``.weights.h5`` / ``.keras`` file
            with weights for exactly this architecture.
        dropout: Dropout rate before the classifier.

    Returns:
        A Functional ``keras.Model``.

    Raises:
        ValueError: For any invalid argument.
    """
    validate_common_args(
        include_top=include_top,
        input_shape=input_shape,
        pooling=pooling,
        num_classes=num_classes,
        classifier_activation=classifier_activation,
        weights=weights,
        dropout=dropout,
    )
    if input_tensor is None:
        inputs = keras.Input(
            shape=tuple(input_shape or DEFAULT_INPUT_SHAPE), name="images"
        )
        model_inputs = inputs
    else:
        if not keras.backend.is_keras_tensor(input_tensor):
            raise ValueError(
                "input_tensor must be a Keras tensor (from keras.Input or a "
                f"layer call). Received: input_tensor={input_tensor!r}"
            )
        inputs = input_tensor
        model_inputs = keras.utils.get_source_inputs(input_tensor)
    outputs = classifier_head(
        stack(inputs),
        include_top=include_top,
        pooling=pooling,
        num_classes=num_classes,
        classifier_activation=classifier_activation,
        dropout=dropout,
    )
    model = keras.Model(model_inputs, outputs, name=name)
    if weights is not None:
        _load_weights(model, weights)
    return model


def validate_common_args(
    *,
    include_top,
    input_shape,
    pooling,
    num_classes,
    classifier_activation,
    weights,
    dropout=0.0,
) -> None:
    """Raise ``ValueError`` for any invalid keras.applications-style argument."""
    if not isinstance(include_top, bool):
        raise ValueError(
            f"include_top must be True or False. Received: include_top={include_top!r}"
        )
    if pooling not in POOLING_MODES:
        raise ValueError(
            f"pooling must be one of None, 'avg', 'max'. Received: pooling={pooling!r}"
        )
    check_int("num_classes", num_classes)
    if input_shape is not None:
        _validate_input_shape(input_shape)
    if classifier_activation is not None:
        try:
            keras.activations.get(classifier_activation)
        except (ValueError, TypeError):
            raise ValueError(
                "classifier_activation must be None or a Keras activation name. "
                f"Received: classifier_activation={classifier_activation!r}"
            ) from None
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout!r}")
    if weights is not None and not os.path.isfile(weights):
        raise ValueError(
            "weights must be None or the path of an existing weights file. "
            f"Received: weights={weights!r}"
        )


def validate_positive(
    value, name: str, *, integer: bool = False, maximum: float | None = None
) -> None:
    """Raise ``ValueError`` unless ``value`` is a positive finite number.

    Args:
        value: The value to check.
        name: Argument name, for the message.
        integer: Whether ``value`` must be an integer.
        maximum: Largest accepted value. For ``name="width_multiplier"`` it
            defaults to ``MAX_WIDTH_MULTIPLIER``, so every builder enforces
            the same bound.

    Raises:
        ValueError: The message ends in ``Received: name=value``.
    """
    if integer:
        check_int(name, value)
    elif (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(
            f"{name} must be a positive finite number. Received: {name}={value!r}"
        )
    if maximum is None and name == "width_multiplier":
        maximum = MAX_WIDTH_MULTIPLIER
    if maximum is not None and value > maximum:
        raise ValueError(
            f"{name} must be at most {maximum:g}{_WHY_AT_MOST.get(name, '')}. "
            f"Received: {name}={value!r}"
        )


def _validate_input_shape(input_shape) -> None:
    message = (
        "input_shape must be (height, width, channels) with height and width "
        f">= {MIN_SIZE} (or None) and channels >= 1. "
        f"Received: input_shape={input_shape!r}"
    )
    try:
        height, width, channels = input_shape
    except (TypeError, ValueError):
        raise ValueError(message) from None
    for size in (height, width):
        if size is not None and (not isinstance(size, int) or size < MIN_SIZE):
            raise ValueError(message)
    if not isinstance(channels, int) or channels < 1:
        raise ValueError(message)


def _load_weights(model: keras.Model, weights) -> None:
    path = os.fspath(weights)
    if path.endswith(".keras"):
        source = keras.saving.load_model(path, compile=False)
        model.set_weights(source.get_weights())
    else:
        model.load_weights(path)

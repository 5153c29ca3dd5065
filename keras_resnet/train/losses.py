"""The training loss, in a module of its own.

``import keras_resnet`` registers this class with Keras' serialization as
soon as Keras is imported, so this module imports nothing heavier than
``keras`` (no TensorFlow, no engine).
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="keras_resnet")
class CrossEntropy(keras.losses.Loss):
    """Categorical cross-entropy with label smoothing, taking integer or
    one-hot labels (mixup and cutmix produce one-hot ones).

    Args:
        num_classes: Number of classes.
        label_smoothing: Label smoothing factor in [0, 1).
    """

    def __init__(self, num_classes: int, label_smoothing: float = 0.0, **kwargs):
        super().__init__(name=kwargs.pop("name", "cross_entropy"), **kwargs)
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        y_pred = keras.ops.cast(y_pred, "float32")
        if len(y_true.shape) < len(y_pred.shape):
            y_true = keras.ops.one_hot(
                keras.ops.cast(y_true, "int32"), self.num_classes
            )
        return keras.losses.categorical_crossentropy(
            keras.ops.cast(y_true, "float32"),
            y_pred,
            label_smoothing=self.label_smoothing,
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "label_smoothing": self.label_smoothing,
        }

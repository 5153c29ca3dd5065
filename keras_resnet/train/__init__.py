"""Training engine: configuration, model.fit recipes, run directories."""

from keras_resnet.train.config import TrainConfig

__all__ = ["TrainConfig"]

"""Load a trained classifier for prediction, whatever form it was saved in.

``load_predictor(path)`` accepts a run directory (``model.keras`` +
``dataset.json``), a ``.keras`` file, or a SavedModel directory written by
``keras_resnet.export`` (plain, or the TF Serving layout ``BASE/<version>/``,
where the highest version wins, as in TF Serving); ``find_model`` is the one
place that decides which of these a path is (``keras_resnet.train.evaluate``
uses it too). Every predictor takes uint8 images of any height and width and
resizes them the same way the exported serving signature does, so all forms
give the same probabilities. ``load_pretrained_predictor(model, weights)``
gives the same kind of predictor for a registered model with weights shipped
in the package (``weights="cifar10"``).

Example:
    >>> predictor = load_predictor("runs/resnet18-20261125-101500")
    >>> probabilities = predictor.predict(images)  # uint8 [batch, h, w, 3]
    >>> predictor.class_names[probabilities.argmax(-1)[0]]
"""

from __future__ import annotations

import json
import os
import pathlib
import zipfile
from typing import TYPE_CHECKING

import keras
import numpy as np

from keras_resnet.errors import RunDirectoryError
from keras_resnet.run_layout import DATASET_FILE, MODEL_FILE, read_json

if TYPE_CHECKING:
    import tensorflow as tf

SAVED_MODEL_FILE = "saved_model.pb"
# Written next to the SavedModel's assets; TF Serving ignores this folder
# except for its warm-up file, so extra metadata is safe there.
METADATA_FILE = os.path.join("assets.extra", "keras_resnet.json")
RESIZE_METHOD = "bilinear"


def resize_images(images, image_size: tuple[int, int]) -> tf.Tensor:
    """Cast uint8 pixels to float32 and resize them to ``image_size``.

    The one resize used by every predictor and by the exported signatures:
    bilinear, no antialiasing (ONNX has no antialiased resize), pixel values
    kept in 0..255. An image already of ``image_size`` is returned unchanged.

    Args:
        images: uint8 tensor or array ``[batch, height, width, 3]``.
        image_size: Target ``(height, width)``.

    Returns:
        float32 tensor ``[batch, image_size[0], image_size[1], 3]``.
    """
    # Imported here: loading a .keras file (evaluate) must work without
    # TensorFlow, on the JAX or PyTorch backend.
    import tensorflow as tf

    pixels = tf.cast(images, tf.float32)
    return tf.image.resize(pixels, image_size, method=RESIZE_METHOD)


def read_class_names(model_path: str | os.PathLike, num_classes: int) -> list[str]:
    """Class names from the ``dataset.json`` beside a model, else ``"0".."N-1"``.

    Args:
        model_path: Path of a ``.keras`` file.
        num_classes: Number of classifier outputs.

    Returns:
        ``num_classes`` class names.

    Raises:
        RunDirectoryError: If ``dataset.json`` exists but is unreadable or its
            ``class_names`` do not match ``num_classes``.
    """
    dataset_file = pathlib.Path(model_path).parent / DATASET_FILE
    if not dataset_file.is_file():
        return [str(i) for i in range(num_classes)]
    try:
        names = list(read_json(dataset_file)["class_names"])
    except (RunDirectoryError, KeyError, TypeError) as error:
        raise RunDirectoryError(
            f"Cannot read class_names from {dataset_file}: {error}"
        ) from None
    if len(names) != num_classes:
        raise RunDirectoryError(
            f"{dataset_file} lists {len(names)} class_names but the model has "
            f"{num_classes} outputs"
        )
    return [str(name) for name in names]


def check_images(images) -> np.ndarray:
    """Return ``images`` as a uint8 NHWC array with 3 channels.

    Raises:
        ValueError: For another dtype, rank or channel count.
    """
    array = np.asarray(images)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(
            "images must be a uint8 array [batch, height, width, 3]. "
            f"Received: images=<{array.dtype} array of shape {array.shape}>"
        )
    return array


def pad_to_equal_batches(inputs: np.ndarray, batch_size: int):
    """``inputs`` padded to split into batches of one size, and that size.

    ``ceil(len / batch_size)`` batches of one size, at most ``batch_size``;
    the padding repeats the last row, fewer times than there are batches.
    A compiled forward pass then sees one input shape: a smaller last batch
    would make TensorFlow trace the predict function again (JAX compile
    again). Callers drop the outputs of the padding rows.

    Returns:
        ``(padded_inputs, size)``; ``len(padded_inputs)`` is a multiple of
        ``size``.
    """
    count = len(inputs)
    batches = max(1, -(-count // batch_size))
    size = max(1, -(-count // batches))
    if 0 < count < size * batches:
        extra = np.repeat(inputs[-1:], size * batches - count, axis=0)
        inputs = np.concatenate([inputs, extra])
    return inputs, size


def predict_in_equal_batches(model, inputs: np.ndarray, batch_size: int):
    """``model.predict`` in batches of one size; one output row per input."""
    padded, size = pad_to_equal_batches(inputs, batch_size)
    outputs = model.predict(padded, batch_size=size, verbose=0)
    return np.asarray(outputs)[: len(inputs)]


class KerasPredictor:
    """Predicts with a Keras classifier (raw pixels in, probabilities out).

    Attributes:
        model: The ``keras.Model``.
        class_names: One name per output.
        image_size: ``(height, width)`` the model takes.
        model_file: The ``.keras`` file it was loaded from, or None.
    """

    def __init__(
        self,
        model,
        class_names: list[str] | None = None,
        *,
        model_file: str | os.PathLike | None = None,
    ):
        self.model = model
        if class_names is None:
            class_names = [str(i) for i in range(int(model.output_shape[-1]))]
        self.class_names = list(class_names)
        self.image_size = tuple(int(d) for d in model.input_shape[1:3])
        self.model_file = pathlib.Path(model_file) if model_file else None

    def predict(self, images, batch_size: int = 256) -> np.ndarray:
        """float32 probabilities ``[batch, classes]`` for uint8 NHWC images.

        The images go through in batches of one size, at most ``batch_size``
        (``pad_to_equal_batches``), so the model is traced once.
        """
        pixels = check_images(images)
        if tuple(pixels.shape[1:3]) != self.image_size:
            pixels = resize_images(pixels, self.image_size)
        # Images already of the model's size go in as they are: the same
        # values (resizing to the same size is the identity), and no
        # TensorFlow needed on the JAX or PyTorch backend.
        outputs = predict_in_equal_batches(self.model, pixels, batch_size)
        return np.asarray(outputs, dtype=np.float32)


class SavedModelPredictor:
    """Predicts through the ``serving_default`` signature of an export.

    Attributes:
        path: The SavedModel directory (the version folder, if versioned).
        class_names: One name per output.
        image_size: ``(height, width)`` the exported model resizes to.
    """

    def __init__(self, path: pathlib.Path):
        import tensorflow as tf

        metadata_file = path / METADATA_FILE
        if not metadata_file.is_file():
            raise RunDirectoryError(
                f"{path} is a SavedModel without {METADATA_FILE}; export it "
                "with `keras-resnet export`"
            )
        try:
            metadata = json.loads(metadata_file.read_text())
            self.class_names = [str(name) for name in metadata["class_names"]]
            self.image_size = tuple(int(size) for size in metadata["image_size"])
        except (ValueError, KeyError, TypeError) as error:
            raise RunDirectoryError(
                f"Cannot read class_names and image_size from {metadata_file}: "
                f"{_short_reason(error)}"
            ) from None
        self.path = path
        try:
            loaded = tf.saved_model.load(str(path))
            self._signature = loaded.signatures["serving_default"]
        except Exception as error:  # TensorFlow raises many types here.
            raise RunDirectoryError(
                f"Cannot load the SavedModel {path}: {_short_reason(error)}"
            ) from None

    def predict(self, images, batch_size: int = 256) -> np.ndarray:
        """float32 probabilities ``[batch, classes]`` for uint8 NHWC images."""
        import tensorflow as tf

        array = check_images(images)
        chunks = [
            self._signature(images=tf.constant(array[i : i + batch_size]))[
                "probabilities"
            ].numpy()
            for i in range(0, len(array), batch_size)
        ]
        if not chunks:
            return np.zeros((0, len(self.class_names)), np.float32)
        return np.concatenate(chunks).astype(np.float32)


def find_saved_model(path: str | os.PathLike) -> pathlib.Path | None:
    """The SavedModel folder at ``path``: itself, or its highest numeric version.

    Returns:
        The folder holding ``saved_model.pb``, or None if there is none.
    """
    path = pathlib.Path(path)
    if (path / SAVED_MODEL_FILE).is_file():
        return path
    if not path.is_dir():
        return None
    versions = [
        child
        for child in path.iterdir()
        if child.name.isdigit() and (child / SAVED_MODEL_FILE).is_file()
    ]
    return max(versions, key=lambda child: int(child.name), default=None)


def find_model(path: str | os.PathLike) -> pathlib.Path:
    """The model that ``path`` names: a ``.keras`` file or a SavedModel folder.

    A run directory gives its ``model.keras``; a ``.keras`` file itself; a
    SavedModel directory itself, or in the TF Serving layout
    ``BASE/<version>/`` its highest version.

    Args:
        path: A run directory, a ``.keras`` file or a SavedModel directory.

    Returns:
        The ``.keras`` file or the folder holding ``saved_model.pb``.

    Raises:
        RunDirectoryError: If ``path`` does not exist, is a file other than
            ``.keras``, or is a directory holding neither kind of model.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        if (path / MODEL_FILE).is_file():
            return path / MODEL_FILE
        saved_model = find_saved_model(path)
        if saved_model is not None:
            return saved_model
        raise RunDirectoryError(
            f"No model found: {path} has no {MODEL_FILE} and no {SAVED_MODEL_FILE} "
            "(expected a run directory, a .keras file or a SavedModel)"
        )
    if not path.exists():
        raise RunDirectoryError(f"No such file or directory: {path}")
    if path.suffix != ".keras":
        raise RunDirectoryError(
            f"Not a .keras model file: {path} (expected a run directory, a .keras "
            "file or a SavedModel)"
        )
    return path


def load_predictor(path: str | os.PathLike) -> KerasPredictor | SavedModelPredictor:
    """Load a run directory, a ``.keras`` file or an exported SavedModel.

    Args:
        path: A run directory (``model.keras`` + ``dataset.json``), a
            ``.keras`` file (class names from a ``dataset.json`` beside it,
            else ``"0".."N-1"``), or a SavedModel directory from
            ``keras_resnet.export`` (plain or ``BASE/<version>/``).

    Returns:
        An object with ``class_names``, ``image_size`` and
        ``predict(images) -> float32 probabilities``.

    Raises:
        RunDirectoryError: If ``path`` holds none of these (see
            ``find_model``) or the model cannot be loaded.
    """
    model = find_model(path)
    if model.suffix != ".keras":
        return SavedModelPredictor(model)
    classifier, class_names = load_classifier(model)
    return KerasPredictor(classifier, class_names, model_file=model)


def load_pretrained_predictor(model: str, weights: str) -> KerasPredictor:
    """A registered model with weights shipped in the package, as a predictor.

    The model is built with the arguments the weights fix and their classes
    (``keras_resnet.models.pretrained``); it takes raw pixels.

    Args:
        model: A registered model name (not a path).
        weights: The name of its pretrained weights, e.g. ``"cifar10"``.

    Returns:
        A ``KerasPredictor`` whose ``class_names`` are the weights' classes.

    Raises:
        ValueError: For a path given as ``model``, an unknown model, or a
            ``weights`` name the model does not have (the message lists
            the choices).
        OSError: If the weights file is missing or modified.
    """
    from keras_resnet.models.pretrained import get_pretrained
    from keras_resnet.models.registry import build_model, get_model_info

    if not isinstance(model, str) or _looks_like_path(model):
        raise ValueError(
            f"With weights={weights!r}, model must be a registered model name, "
            "not a path (a run directory or model file already holds its "
            f"weights). Received: model={model!r}"
        )
    get_model_info(model)  # an unknown model names the known ones
    entry = get_pretrained(model, weights)
    classifier = build_model(
        model,
        weights=weights,
        num_classes=len(entry.class_names),
        **entry.arguments,
    )
    return KerasPredictor(classifier, list(entry.class_names))


def _looks_like_path(model: str) -> bool:
    return os.path.exists(model) or "/" in model or os.sep in model


def load_classifier(source: str | os.PathLike) -> tuple[keras.Model, list[str]]:
    """The inference classifier and its class names from a run dir or ``.keras``.

    Augmentation layers (``keras_resnet.augment`` and Keras' random image
    layers) are removed, so a training-time wrapper loads as its classifier.

    Args:
        source: A run directory with ``model.keras``, or a ``.keras`` file.

    Returns:
        ``(model, class_names)``.

    Raises:
        RunDirectoryError: If there is no Keras model at ``source`` (see
            ``find_model``; a SavedModel holds none) or it cannot be loaded.
    """
    model_file = find_model(source)
    if model_file.suffix != ".keras":
        raise RunDirectoryError(
            f"{os.fspath(source)} is a SavedModel, not a Keras model; use the run "
            "directory or .keras file it was exported from"
        )
    model = strip_augmentation(load_keras_model(model_file))
    num_classes = int(model.output_shape[-1])
    return model, read_class_names(model_file, num_classes)


def load_keras_model(model_file: str | os.PathLike) -> keras.Model:
    """Load a ``.keras`` file (uncompiled), with a one-line error if it is bad.

    The package's serializable classes are registered first, so files that
    name them (the fused ``BatchNormalization`` in files written by older
    versions, the augmentation layers) load in a fresh process. The archive
    is checked before Keras reads it, because Keras reports a truncated file
    as "File not found" and a zip without ``config.json`` as a ``KeyError``.

    Args:
        model_file: Path of a ``.keras`` file.

    Returns:
        The ``keras.Model``.

    Raises:
        RunDirectoryError: If the file is missing, not a Keras model archive
            (not a zip, truncated, no ``config.json``) or Keras cannot
            rebuild the model; the message starts with ``Cannot load <file>``.
    """
    model_file = pathlib.Path(model_file)
    _check_keras_archive(model_file)
    _register_package_classes()
    try:
        return keras.saving.load_model(model_file, compile=False)
    except Exception as error:  # Keras raises many types for a bad archive.
        raise RunDirectoryError(
            f"Cannot load {model_file}: {_short_reason(error)}"
        ) from None


def _check_keras_archive(model_file: pathlib.Path) -> None:
    if not model_file.is_file():
        raise RunDirectoryError(f"Cannot load {model_file}: no such file")
    size = model_file.stat().st_size
    try:
        with zipfile.ZipFile(model_file) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        # A .keras file is a zip; a truncated one has lost its directory,
        # which sits at the end.
        raise RunDirectoryError(
            f"Cannot load {model_file}: not a Keras model file (not a complete "
            f"zip archive; {size} bytes, truncated or corrupt?)"
        ) from None
    if "config.json" not in names:
        raise RunDirectoryError(
            f"Cannot load {model_file}: not a Keras model file (the zip archive "
            "has no config.json)"
        )


def _register_package_classes() -> None:
    # Importing these modules runs their register_keras_serializable
    # decorators. Imported here, not at the top: the layers are only needed
    # to read files that name them.
    import keras_resnet.augment  # noqa: F401
    import keras_resnet.models.layers  # noqa: F401


# Keras' error messages for a config it cannot rebuild run to several KB
# (the whole layer config); the first sentence is the useful part.
_MAX_REASON = 300


def _short_reason(error: Exception) -> str:
    message = " ".join(str(error).split()) or type(error).__name__
    marker = "Could not locate class "
    if marker in message:
        name = message.split(marker, 1)[1].split(".", 1)[0]
        return (
            f"it uses the class {name}, which is not registered (saved by "
            "another package? import it before loading)"
        )
    if len(message) > _MAX_REASON:
        message = message[: _MAX_REASON - 3].rstrip() + "..."
    return message


# Keras' built-in augmentation layers that are not named Random*.
_KERAS_AUGMENTATION = frozenset(
    {"AugMix", "CutMix", "MixUp", "RandAugment", "Solarization"}
)


def is_augmentation(layer) -> bool:
    """Whether ``layer`` only augments training data (identity at inference).

    True for layers defined in ``keras_resnet.augment`` (except the
    normalization layer), Keras' ``Random*`` image layers and mixing layers,
    and models made only of such layers.
    """
    if layer.name == "normalization" or isinstance(layer, keras.layers.Normalization):
        return False
    if isinstance(layer, keras.Model):
        inner = [
            sub for sub in layer.layers if not isinstance(sub, keras.layers.InputLayer)
        ]
        return bool(inner) and all(is_augmentation(sub) for sub in inner)
    cls = type(layer)
    if cls.__module__.startswith("keras_resnet.augment"):
        return True
    return cls.__module__.startswith("keras.") and (
        cls.__name__.startswith("Random") or cls.__name__ in _KERAS_AUGMENTATION
    )


def strip_augmentation(model: keras.Model) -> keras.Model:
    """``model`` with every augmentation layer replaced by an identity.

    Other layers (and so their weights) are shared with ``model``, not
    copied. Returns ``model`` itself when it has no augmentation layer.
    """
    if not _has_augmentation(model):
        return model
    identities = set()

    def clone_layer(layer):
        if is_augmentation(layer):
            identity = keras.layers.Identity(name=layer.name)
            identities.add(id(identity))
            return identity
        if isinstance(layer, keras.Model):
            return strip_augmentation(layer)
        return layer

    def call_layer(layer, *args, **kwargs):
        # An identity takes only the tensor, not the replaced layer's
        # ``training`` / ``mask`` arguments.
        if id(layer) in identities:
            return layer(args[0])
        return layer(*args, **kwargs)

    return keras.models.clone_model(
        model, clone_function=clone_layer, call_function=call_layer
    )


def _has_augmentation(model: keras.Model) -> bool:
    return any(
        is_augmentation(layer)
        or (isinstance(layer, keras.Model) and _has_augmentation(layer))
        for layer in model.layers
    )

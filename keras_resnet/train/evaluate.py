"""Evaluate a trained classifier: accuracy, loss, per-class accuracy, confusion."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from keras_resnet._validation import check_choice, check_int
from keras_resnet.errors import DataError
from keras_resnet.run_layout import has_config
from keras_resnet.train import rundir
from keras_resnet.train.config import load_splits

if TYPE_CHECKING:
    import keras

SPLITS = ("train", "validation", "test")
# The dataset pretrained weights are evaluated on by default (a TFDS name).
PRETRAINED_DATASET = "cifar10"
# Top-5 accuracy is reported from this many classes on (CIFAR-100, not CIFAR-10).
TOP5_MIN_CLASSES = 11


def evaluate(
    path_or_model: str | os.PathLike | keras.Model,
    *,
    weights: str | None = None,
    dataset: str | None = None,
    split: str = "test",
    batch_size: int = 256,
    data_dir: str | None = None,
    splits=None,
) -> dict[str, Any]:
    """Evaluate a run directory, a ``.keras`` file, a SavedModel or a model.

    A run directory (or a ``.keras`` file inside one) is evaluated on the
    dataset of its ``config.yaml``, split the same way (validation hold-out,
    example limits), unless ``dataset`` is given. A SavedModel written by
    ``keras_resnet.export`` (plain or ``BASE/<version>/``) is evaluated
    through its ``serving_default`` signature, which resizes images of
    another size to the model's. With ``weights``, ``path_or_model`` is a
    registered model name and the model has the weights of that name shipped
    in the package (``keras_resnet.models.pretrained``); the dataset
    defaults to ``"cifar10"`` and must have the weights' class names.

    Args:
        path_or_model: A run directory (its ``model.keras``), a ``.keras``
            classifier (raw pixels in, probabilities out), an exported
            SavedModel directory or a ``keras.Model``; with ``weights``, a
            registered model name.
        weights: The name of pretrained weights of the model
            (``keras_resnet.models.weights_choices``), or None.
        dataset: Data source (see ``keras_resnet.data.load_dataset``);
            required for a model, a SavedModel or a file outside a run
            directory; with ``weights``, default ``"cifar10"``.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        batch_size: Examples per prediction batch.
        data_dir: TFDS data directory.
        splits: Already loaded ``DatasetSplits`` (skips loading).

    Returns:
        A dict with ``accuracy``, ``top5_accuracy`` (the fraction whose label
        is among the 5 most probable classes; None with 10 classes or
        fewer), ``loss`` (cross-entropy), ``num_examples``, ``class_names``,
        ``per_class_accuracy`` (class name -> accuracy, NaN for a class
        without examples) and ``confusion_matrix`` (rows: true class,
        columns: predicted class).

    Raises:
        ValueError: For a bad argument (message ends in ``Received: ...``),
            including a dataset whose class count differs from the model's
            (or, with ``weights``, whose class names differ from theirs), a
            path given with ``weights``, an unknown model or weights name.
        keras_resnet.errors.RunDirectoryError: For a path that holds no
            model (resolved by ``keras_resnet.inference.find_model``, as
            ``keras-resnet predict`` does), or a file that is not a loadable
            Keras model (the message names it).
    """
    check_choice("split", split, SPLITS)
    check_int("batch_size", batch_size)
    if weights is not None:
        return _evaluate_pretrained(
            path_or_model, weights, dataset, split, batch_size, data_dir, splits
        )
    predict, num_classes, run_dir = _resolve_model(path_or_model)
    if splits is None:
        splits = _load_splits(run_dir, dataset, data_dir)
    _check_class_count(num_classes, splits, dataset)
    return _evaluate_split(predict, splits, split, batch_size)


def _evaluate_pretrained(model, weights, dataset, split, batch_size, data_dir, splits):
    # Imported here, as in _resolve_model: building needs Keras.
    from keras_resnet.inference import load_pretrained_predictor

    predictor = load_pretrained_predictor(model, weights)
    if dataset is None:
        dataset = PRETRAINED_DATASET
    if splits is None:
        splits = _load_splits(None, dataset, data_dir)
    if list(splits.class_names) != predictor.class_names:
        raise DataError(
            f"The weights {weights!r} of {model} know the classes "
            f"{', '.join(predictor.class_names)} but the dataset {dataset} has "
            f"{', '.join(map(str, splits.class_names))}; evaluate them on a dataset "
            "with their classes"
        )
    return _evaluate_split(predictor.predict, splits, split, batch_size)


def _evaluate_split(predict, splits, split, batch_size) -> dict[str, Any]:
    if split not in splits.arrays:
        raise ValueError(f"The dataset has no {split} split. Received: split={split!r}")
    images, labels = splits.arrays[split]
    probabilities = predict(images, batch_size)
    return summarize(np.asarray(probabilities), labels, splits.class_names)


def summarize(
    probabilities: np.ndarray, labels: np.ndarray, class_names
) -> dict[str, Any]:
    """Accuracy, loss, per-class accuracy and confusion matrix of predictions.

    Args:
        probabilities: ``(N, classes)`` predicted probabilities.
        labels: ``(N,)`` integer labels.
        class_names: Names in label order.

    Returns:
        The dict ``evaluate`` returns.
    """
    labels = np.asarray(labels).astype(np.int64)
    count = len(class_names)
    predicted = probabilities.argmax(axis=-1)
    confusion = np.zeros((count, count), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    picked = probabilities[np.arange(len(labels)), labels].astype(np.float64)
    loss = (
        float(-np.log(np.clip(picked, 1e-7, 1.0)).mean())
        if len(labels)
        else float("nan")
    )
    per_class = {}
    for index, name in enumerate(class_names):
        total = confusion[index].sum()
        per_class[str(name)] = (
            float(confusion[index, index] / total) if total else float("nan")
        )
    return {
        "accuracy": float((predicted == labels).mean())
        if len(labels)
        else float("nan"),
        "top5_accuracy": top_k_accuracy(probabilities, labels, 5)
        if count >= TOP5_MIN_CLASSES
        else None,
        "loss": loss,
        "num_examples": int(len(labels)),
        "class_names": [str(name) for name in class_names],
        "per_class_accuracy": per_class,
        "confusion_matrix": confusion.tolist(),
    }


def top_k_accuracy(probabilities: np.ndarray, labels: np.ndarray, k: int) -> float:
    """The fraction of examples whose label is among the ``k`` most probable.

    Ties at the ``k``-th probability are broken arbitrarily; NaN for no
    examples.
    """
    if not len(labels):
        return float("nan")
    k = min(k, probabilities.shape[-1])
    top = np.argpartition(probabilities, -k, axis=-1)[:, -k:]
    return float((top == np.asarray(labels)[:, None]).any(axis=-1).mean())


def _resolve_model(target) -> tuple[Callable, int, pathlib.Path | None]:
    """``(predict(images, batch_size), num_classes, run_dir)`` for ``target``.

    ``run_dir`` is the run the model was saved in (its ``config.yaml`` says
    what to evaluate on), or None.
    """
    # Imported here: ``keras_resnet.train`` imports this module, and
    # ``--help`` of a training command must not start Keras and its backend.
    import keras

    from keras_resnet.inference import KerasPredictor, load_predictor

    if isinstance(target, keras.Model):
        predictor = KerasPredictor(target)
    else:
        predictor = load_predictor(target)
    model_file = getattr(predictor, "model_file", None)
    run_dir = model_file.parent if model_file is not None else None
    if run_dir is not None and not has_config(run_dir):
        run_dir = None
    return predictor.predict, len(predictor.class_names), run_dir


def _check_class_count(num_classes: int, splits, dataset) -> None:
    """Refuse a dataset whose labels the model's outputs do not match."""
    if num_classes == splits.num_classes:
        return
    source = dataset if dataset is not None else splits.name
    raise DataError(
        f"The model has {num_classes} classes but the dataset {source} has "
        f"{splits.num_classes}; evaluate on a dataset with the classes the model "
        "was trained on"
    )


def _load_splits(run_dir, dataset, data_dir):
    if run_dir is None:
        if dataset is None:
            raise ValueError(
                "dataset is required to evaluate a model outside a run directory. "
                "Received: dataset=None"
            )
        from keras_resnet.data import load_dataset

        return load_dataset(dataset, data_dir=data_dir)
    config = rundir.read_config(run_dir)
    return load_splits(config, dataset=dataset, data_dir=data_dir)

"""Evaluate a trained classifier: accuracy, loss, per-class accuracy, confusion."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import keras
import numpy as np

from keras_resnet._validation import check_int
from keras_resnet.errors import RunDirectoryError
from keras_resnet.train import rundir

SPLITS = ("train", "validation", "test")


def evaluate(
    path_or_model: str | os.PathLike | keras.Model,
    *,
    dataset: str | None = None,
    split: str = "test",
    batch_size: int = 256,
    data_dir: str | None = None,
    splits=None,
) -> dict[str, Any]:
    """Evaluate a run directory, a ``.keras`` file or a model on a split.

    A run directory (or a ``.keras`` file inside one) is evaluated on the
    dataset of its ``config.yaml``, split the same way (validation hold-out,
    example limits), unless ``dataset`` is given.

    Args:
        path_or_model: A run directory (its ``model.keras``), a ``.keras``
            classifier (raw pixels in, probabilities out) or a ``keras.Model``.
        dataset: Data source (see ``keras_resnet.data.load_dataset``);
            required for a model or a file outside a run directory.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        batch_size: Examples per prediction batch.
        data_dir: TFDS data directory.
        splits: Already loaded ``DatasetSplits`` (skips loading).

    Returns:
        A dict with ``accuracy``, ``loss`` (cross-entropy), ``num_examples``,
        ``class_names``, ``per_class_accuracy`` (class name -> accuracy, NaN
        for a class without examples) and ``confusion_matrix`` (rows: true
        class, columns: predicted class).

    Raises:
        ValueError: For a bad argument (message ends in ``Received: ...``).
        keras_resnet.errors.RunDirectoryError: For a missing model file.
    """
    if split not in SPLITS:
        raise ValueError(
            f"split must be one of {', '.join(SPLITS)}. Received: split={split!r}"
        )
    check_int("batch_size", batch_size)
    model, run_dir = _resolve_model(path_or_model)
    if splits is None:
        splits = _load_splits(run_dir, dataset, data_dir)
    if split not in splits.arrays:
        raise ValueError(f"The dataset has no {split} split. Received: split={split!r}")
    images, labels = splits.arrays[split]
    probabilities = model.predict(images, batch_size=batch_size, verbose=0)
    return summarize(np.asarray(probabilities), labels, splits.class_names)


def summarize(
    probabilities: np.ndarray, labels: np.ndarray, class_names
) -> dict[str, Any]:
    """Accuracy, loss, per-class accuracy and confusion matrix of predictions.

    Args:
        probabilities: ``(N, classes)`` predicted probabilities.
        labels: ``(N,)`` integer labels.
        class_names: Names in label order.
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
        "loss": loss,
        "num_examples": int(len(labels)),
        "class_names": [str(name) for name in class_names],
        "per_class_accuracy": per_class,
        "confusion_matrix": confusion.tolist(),
    }


def _resolve_model(target) -> tuple[keras.Model, pathlib.Path | None]:
    if isinstance(target, keras.Model):
        return target, None
    path = pathlib.Path(target)
    if path.is_dir():
        run_dir, model_path = path, path / rundir.MODEL
    elif path.suffix == ".keras":
        run_dir, model_path = path.parent, path
    else:
        raise ValueError(
            "path_or_model must be a run directory, a .keras file or a keras.Model. "
            f"Received: path_or_model={os.fspath(target)!r}"
        )
    if not model_path.is_file():
        raise RunDirectoryError(f"{model_path} not found")
    if not (run_dir / rundir.CONFIG).is_file():
        run_dir = None
    return keras.saving.load_model(model_path, compile=False), run_dir


def _load_splits(run_dir, dataset, data_dir):
    from keras_resnet.data import load_dataset

    if run_dir is None:
        if dataset is None:
            raise ValueError(
                "dataset is required to evaluate a model outside a run directory. "
                "Received: dataset=None"
            )
        return load_dataset(dataset, data_dir=data_dir)
    config = rundir.read_config(run_dir)
    return load_dataset(
        dataset or config.dataset,
        validation_split=config.validation_split,
        seed=config.seed,
        data_dir=data_dir or config.data_dir,
        max_train_examples=config.max_train_examples,
        max_test_examples=config.max_test_examples,
    )

"""Resolve a ``source`` string to decoded arrays.

A source is ``"synthetic"``, a path (official CIFAR archive or folder,
image-folder tree or its tar, ``.npz``), or a TFDS dataset name.
"""

from __future__ import annotations

import os
import pathlib
import zipfile

import numpy as np

from keras_resnet.data import cifar, folders
from keras_resnet.data.splits import RawData
from keras_resnet.data.synthetic import load_synthetic
from keras_resnet.errors import DataError

_PATH_HINT = (
    "pass a local copy instead: the official CIFAR .tar.gz or its folder, an "
    "image-folder tree (train/<class>/, test/<class>/) or its .tar.gz, or an "
    ".npz with x_train, y_train, x_test, y_test"
)


def looks_like_path(source: str) -> bool:
    """Whether ``source`` is meant as a file system path rather than a name."""
    return (
        os.sep in source
        or "/" in source
        or source.startswith((".", "~"))
        or source.endswith((".npz", *folders.ARCHIVE_SUFFIXES))
        or os.path.exists(source)
    )


def read_source(source: str, *, seed: int, data_dir: str | None) -> RawData:
    """Decode every split of ``source``.

    Raises:
        DataError: If the source is missing, unreadable or inconsistent.
    """
    if source == "synthetic":
        return load_synthetic(seed=seed)
    if looks_like_path(source):
        return read_path(pathlib.Path(source).expanduser())
    return read_tfds(source, data_dir=data_dir)


def read_path(path: pathlib.Path) -> RawData:
    """Decode a local dataset file or folder, detecting its format."""
    if not path.exists():
        raise DataError(f"dataset path not found: {path}")
    if path.is_file() and path.suffix == ".npz":
        return read_npz(path)
    if path.is_file() and folders.is_archive(path):
        layout = cifar.cifar_archive_layout(path)
        if layout:
            return _raw(path, layout, *cifar.read_cifar_archive(path, layout))
        return folders.load_image_folders(path)
    if path.is_dir():
        found = cifar.find_cifar_folder(path)
        if found:
            return _raw(path, found[1], *cifar.read_cifar_folder(*found))
        return folders.load_image_folders(path)
    raise DataError(
        f"unsupported dataset file {path}: expected a folder, .tar.gz or .npz"
    )


def _raw(path, layout, names, x_train, y_train, x_test, y_test) -> RawData:
    return RawData(path.name, names, x_train, y_train, x_test, y_test)


def read_npz(path: pathlib.Path) -> RawData:
    """Read an ``.npz`` of ``x_train, y_train, x_test, y_test`` (+ ``class_names``).

    Grayscale ``(N, H, W)``/``(N, H, W, 1)`` and RGBA images become RGB.
    """
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise DataError(f"cannot read {path}: {error}") from None
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise DataError(f"{path} lacks arrays {missing} (has {sorted(arrays)})")
    labels = [arrays[k].reshape(-1).astype(np.int64) for k in ("y_train", "y_test")]
    if "class_names" in arrays:
        names = tuple(str(n) for n in arrays["class_names"])
    else:
        count = int(max(labels[0].max(initial=0), labels[1].max(initial=0))) + 1
        names = tuple(str(i) for i in range(count))
    return RawData(
        path.name,
        names,
        _to_rgb(arrays["x_train"], path, "x_train"),
        labels[0],
        _to_rgb(arrays["x_test"], path, "x_test"),
        labels[1],
    )


def _to_rgb(images: np.ndarray, path, key: str) -> np.ndarray:
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.integer) or (
            images.size and (images.min() < 0 or images.max() > 255)
        ):
            raise DataError(
                f"{path}: {key} must hold uint8 pixels 0..255, got {images.dtype}"
            )
        images = images.astype(np.uint8)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise DataError(
            f"{path}: {key} has shape {images.shape}, expected (N, H, W, 3)"
        )
    if images.shape[-1] == 1:
        return np.repeat(images, 3, axis=-1)
    return np.ascontiguousarray(images[..., :3])


def read_tfds(name: str, *, data_dir: str | None) -> RawData:
    """Load a TFDS image-classification dataset (``train`` and ``test`` splits).

    Raises:
        DataError: For an unknown name, or when the data is neither prepared
            in ``data_dir`` nor downloadable (saying how to pass a local path).
    """
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # TFDS raises several types for a bad name
        raise DataError(
            f"no such dataset path or TFDS dataset: {name!r} ({type(error).__name__})"
        ) from None
    _prepare(builder, name)
    image_key, label_key = _supervised_keys(builder, name)
    known = builder.info.splits
    test_split = "validation" if known and "test" not in known else "test"
    x_train, y_train = _tfds_arrays(builder, "train", image_key, label_key)
    x_test, y_test = _tfds_arrays(builder, test_split, image_key, label_key)
    names = tuple(builder.info.features[label_key].names)
    return RawData(name, names, x_train, y_train, x_test, y_test)


def _prepare(builder, name: str) -> None:
    if builder.is_prepared():
        return
    try:
        builder.download_and_prepare()
    except Exception as error:  # network errors come in many types
        raise DataError(
            f"cannot download TFDS dataset {name!r} (no network?) and no prepared "
            f"copy in {builder.data_dir}; {_PATH_HINT} "
            f"({type(error).__name__}: {str(error).splitlines()[0][:120]})"
        ) from None


def _supervised_keys(builder, name: str) -> tuple[str, str]:
    keys = builder.info.supervised_keys
    if not keys or len(keys) != 2:
        raise DataError(f"TFDS dataset {name!r} has no (image, label) supervised keys")
    image_key, label_key = keys
    shape = builder.info.features[image_key].shape
    if None in shape[:2]:
        raise DataError(
            f"TFDS dataset {name!r} has images of varying size {shape}; "
            "use a fixed-size dataset or an image folder"
        )
    return image_key, label_key


def _tfds_arrays(builder, split: str, image_key: str, label_key: str):
    import tensorflow_datasets as tfds

    try:
        dataset = builder.as_dataset(
            split=split, as_supervised=True, shuffle_files=False
        )
    except (KeyError, ValueError) as error:
        raise DataError(
            f"TFDS dataset {builder.name!r} has no {split!r} split: {error}"
        ) from None
    images, labels = [], []
    for x, y in tfds.as_numpy(dataset.batch(4096)):
        images.append(x)
        labels.append(y)
    x = np.concatenate(images)
    return _to_rgb(x, builder.name, "image"), np.concatenate(labels).astype(np.int64)

"""Resolve a ``source`` string to decoded arrays.

A source is ``"synthetic"``, a path (official CIFAR archive or folder,
image-folder tree or its tar, ``.npz``), or a TFDS dataset name.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import threading
import time
import urllib.parse
import urllib.request
import zipfile

import numpy as np

from keras_resnet.data import cifar, folders
from keras_resnet.data.splits import RawData
from keras_resnet.data.synthetic import load_synthetic
from keras_resnet.errors import DataError

_PATH_HINT = (
    "pass a local copy with --dataset PATH: the official CIFAR .tar.gz or its "
    "folder, an image-folder tree (train/<class>/, test/<class>/) or its "
    ".tar.gz, or an .npz with x_train, y_train, x_test, y_test"
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
    Labels are class indices ``(N,)`` or ``(N, 1)`` (integers, or floats with
    integral values), or one-hot rows ``(N, K)``. Without ``class_names`` the
    classes are ``0 .. K-1`` and every one of them must occur in ``y_train``.

    Raises:
        DataError: Naming the file and the array or value at fault.
    """
    arrays = _load_npz(path)
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise DataError(f"{path} lacks arrays {missing} (has {sorted(arrays)})")
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim < 1 or y.ndim < 1 or len(x) != len(y):
            raise DataError(
                f"{path}: x_{split} has {len(x) if x.ndim else 0} images but "
                f"y_{split} has {len(y) if y.ndim else 0} labels; they must match"
            )
    x_train = _to_rgb(arrays["x_train"], path, "x_train")
    x_test = _to_rgb(arrays["x_test"], path, "x_test")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(
            f"{path}: x_train images are {_size(x_train)} but x_test images are "
            f"{_size(x_test)}; every split must have one image size (resize first)"
        )
    (y_train, width), (y_test, test_width) = (
        _npz_labels(arrays[key], path, key) for key in ("y_train", "y_test")
    )
    if width and test_width and width != test_width:
        raise DataError(
            f"{path}: one-hot y_train has {width} columns but y_test has {test_width}"
        )
    if "class_names" in arrays:
        names = tuple(str(n) for n in arrays["class_names"].reshape(-1))
        if (width or test_width) and len(names) != (width or test_width):
            raise DataError(
                f"{path}: {len(names)} class_names but one-hot labels of "
                f"{width or test_width} columns"
            )
    else:
        count = width or test_width or _implied_classes(y_train, y_test, path)
        names = tuple(str(i) for i in range(count))
    return RawData(path.name, names, x_train, y_train, x_test, y_test)


def _load_npz(path: pathlib.Path) -> dict[str, np.ndarray]:
    try:
        _check_npz_sizes(path)
        with np.load(path, allow_pickle=False) as stored:
            return {key: stored[key] for key in stored.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, MemoryError) as error:
        if isinstance(error, DataError):
            raise
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"cannot read {path}: {message}") from None


def _check_npz_sizes(path: pathlib.Path) -> None:
    """Refuse an array whose header asks for more bytes than its member holds.

    ``np.load`` allocates the whole array from the header before reading, so a
    crafted shape would otherwise fail with ``MemoryError`` (or worse).
    """
    readers = {
        (1, 0): np.lib.format.read_array_header_1_0,
        (2, 0): np.lib.format.read_array_header_2_0,
    }
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with archive.open(info) as member:
                read = readers.get(np.lib.format.read_magic(member))
                if read is None:
                    continue  # a newer format: np.load checks it
                shape, _, dtype = read(member)
            size = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if size > info.file_size:
                raise DataError(
                    f"{path}: {info.filename[:-4]} claims shape {shape} "
                    f"({size:,} bytes) but holds {info.file_size:,} bytes "
                    "(corrupt or crafted)"
                )


def _size(images: np.ndarray) -> str:
    return f"{images.shape[2]}x{images.shape[1]}"


def _npz_labels(y: np.ndarray, path, key: str) -> tuple[np.ndarray, int]:
    """Class indices ``(N,)`` int64 and the one-hot width (0 if not one-hot)."""
    if y.dtype == np.bool_:
        y = y.astype(np.int64)
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise DataError(
            f"{path}: {key} must hold integer class indices, got dtype {y.dtype}"
        )
    width = 0
    if y.ndim == 2 and y.shape[1] > 1:
        one_hot = ((y == 0) | (y == 1)).all(axis=1) & (y.sum(axis=1) == 1)
        if not one_hot.all():
            row = int(np.flatnonzero(~one_hot)[0])
            raise DataError(
                f"{path}: {key} has shape {y.shape} but row {row} is not one-hot "
                f"({_row(y[row])}); give class indices of shape (N,) or rows with "
                "a single 1"
            )
        y, width = y.argmax(axis=1), y.shape[1]
    elif y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim != 1:
        raise DataError(
            f"{path}: {key} has shape {y.shape}; expected class indices (N,) or "
            "one-hot rows (N, K)"
        )
    if np.issubdtype(y.dtype, np.floating):
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            raise DataError(
                f"{path}: {key} holds the non-integer label {float(y[bad][0])!r}; "
                "labels must be class indices 0..K-1"
            )
        if y.size and np.abs(y).max() > _MAX_LABEL:
            raise DataError(
                f"{path}: {key} holds the label {float(np.abs(y).max())!r}; "
                "labels must be class indices 0..K-1"
            )
    return y.astype(np.int64), width


# Larger labels cannot be class indices of a trainable classifier.
_MAX_LABEL = 1_000_000


def _row(row: np.ndarray) -> str:
    values = ", ".join(f"{v:g}" for v in row[:6])
    return f"[{values}{', ...' if len(row) > 6 else ''}]"


def _implied_classes(y_train: np.ndarray, y_test: np.ndarray, path) -> int:
    """``max label + 1``, once every class ``0 .. max`` occurs in ``y_train``.

    Without ``class_names``, labels are taken as class indices; a class with no
    training example (a label of 5000 among a few classes) means they are not,
    and would silently build a classifier with thousands of dead outputs.
    """
    if not y_train.size:
        raise DataError(f"{path}: y_train is empty")
    largest = max(int(y.max()) for y in (y_train, y_test) if y.size)
    for key, y in (("y_train", y_train), ("y_test", y_test)):
        if y.size and y.min() < 0:
            raise DataError(
                f"{path}: {key} holds the negative label {int(y.min())}; labels "
                "must be class indices 0..K-1"
            )
    present = np.unique(y_train)
    if largest + 1 > len(present):
        key = "y_train" if y_train.size and y_train.max() == largest else "y_test"
        absent = np.setdiff1d(np.arange(min(largest + 1, _MAX_LABEL)), present)
        raise DataError(
            f"{path}: the label {largest} in {key} implies {largest + 1} classes, "
            f"but y_train has examples of only {len(present)} (none of class "
            f"{int(absent[0])}); renumber the labels 0..K-1 or add class_names "
            "to name every class"
        )
    return largest + 1


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

    A dataset not yet prepared in ``data_dir`` is downloaded, but only after a
    quick check that its download hosts (or the configured proxy) answer: an
    offline machine gets one error within seconds instead of minutes of
    retries. ``KERAS_RESNET_OFFLINE=1`` skips the check and never downloads.

    Raises:
        DataError: For an unknown name, or when the data is neither prepared
            in ``data_dir`` nor downloadable (saying how to pass a local path).
    """
    import tensorflow_datasets as tfds

    with _quiet_absl():
        try:
            builder = tfds.builder(name, data_dir=data_dir)
        except Exception as error:  # TFDS raises several types for a bad name
            raise DataError(
                f"no such dataset path or TFDS dataset: {name!r} "
                f"({type(error).__name__})"
            ) from None
        _prepare(builder, name)
    image_key, label_key = _supervised_keys(builder, name)
    known = builder.info.splits
    test_split = "validation" if known and "test" not in known else "test"
    x_train, y_train = _tfds_arrays(builder, "train", image_key, label_key)
    x_test, y_test = _tfds_arrays(builder, test_split, image_key, label_key)
    names = tuple(builder.info.features[label_key].names)
    return RawData(name, names, x_train, y_train, x_test, y_test)


# Environment switch: never download TFDS data (a prepared copy is required).
OFFLINE_VARIABLE = "KERAS_RESNET_OFFLINE"
# Seconds to wait for any download host to accept a connection.
_PROBE_TIMEOUT = 3.0
# Where TFDS looks for prepared copies of public datasets first.
_GCS_HOST = ("storage.googleapis.com", 443)


def _prepare(builder, name: str) -> None:
    if builder.is_prepared():
        return
    reason = _offline_reason(builder)
    if reason:
        raise DataError(
            f"cannot download TFDS dataset {name!r} ({reason}) and it is not "
            f"prepared in {builder.data_dir}; {_PATH_HINT}"
        )
    try:
        builder.download_and_prepare()
    except Exception as error:  # network errors come in many types
        raise DataError(
            f"cannot download TFDS dataset {name!r} and it is not prepared in "
            f"{builder.data_dir}; {_PATH_HINT} "
            f"({type(error).__name__}: {str(error).splitlines()[0][:120]})"
        ) from None


def _offline_reason(builder) -> str | None:
    """Why a download cannot start, or None when some download host answers."""
    if os.environ.get(OFFLINE_VARIABLE, "").lower() in ("1", "true", "yes"):
        return f"{OFFLINE_VARIABLE} is set"
    download = getattr(type(builder).download_and_prepare, "__module__", "") or ""
    if download.startswith("tensorflow_datasets.testing"):
        return None  # tfds.testing.mock_data: the download is a no-op
    hosts = [_GCS_HOST]
    for url in (getattr(builder, "url_infos", None) or {}).keys():
        parsed = urllib.parse.urlsplit(url)
        if parsed.hostname:
            port = parsed.port or (80 if parsed.scheme == "http" else 443)
            hosts.append((parsed.hostname, port))
    what = ""
    proxies = urllib.request.getproxies()
    proxy = proxies.get("https") or proxies.get("http")
    if proxy:  # downloads go through it, so it is the host to reach
        parsed = urllib.parse.urlsplit(proxy if "://" in proxy else f"//{proxy}")
        if parsed.hostname:
            hosts, what = [(parsed.hostname, parsed.port or 80)], "proxy "
    hosts = list(dict.fromkeys(hosts))
    if _any_reachable(hosts, _PROBE_TIMEOUT):
        return None
    names = ", ".join(f"{host}:{port}" for host, port in hosts)
    return f"no network: cannot connect to {what}{names}"


def _any_reachable(hosts: list[tuple[str, int]], timeout: float) -> bool:
    """Whether any host accepts a TCP connection within ``timeout`` seconds.

    Probed in daemon threads: a hanging DNS lookup is not bounded by the
    socket timeout, and must neither block this call nor the interpreter's
    exit.
    """
    answered = threading.Event()

    def probe(host: str, port: int) -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError:
            return
        answered.set()

    threads = [
        threading.Thread(target=probe, args=address, daemon=True) for address in hosts
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    while not answered.is_set() and time.monotonic() < deadline:
        if not any(thread.is_alive() for thread in threads):
            break
        answered.wait(0.05)
    return answered.is_set()


@contextlib.contextmanager
def _quiet_absl():
    """Hide TFDS' absl warnings (an empty ``data_dir`` gets one per lookup)."""
    try:
        from absl import logging as absl_logging
    except ImportError:
        yield
        return
    previous = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        yield
    finally:
        absl_logging.set_verbosity(previous)


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

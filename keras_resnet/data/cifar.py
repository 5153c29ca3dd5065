"""The official CIFAR-10/100 releases, binary and python versions.

Accepted as the downloaded ``.tar.gz`` or its extracted folder. The python
version is pickled; it is read with a restricted unpickler that only builds
the dicts, lists, bytes and NumPy arrays those files contain.
"""

from __future__ import annotations

import io
import pathlib
import pickle
import tarfile
import zlib

import numpy as np

from keras_resnet.errors import DataError

_RECORD_PIXELS = 32 * 32 * 3

# layout name -> (train files, test files, meta file, label bytes per record)
LAYOUTS = {
    "cifar10-binary": (
        tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
        ("test_batch.bin",),
        "batches.meta.txt",
    ),
    "cifar100-binary": (("train.bin",), ("test.bin",), "fine_label_names.txt"),
    "cifar10-python": (
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        ("test_batch",),
        "batches.meta",
    ),
    "cifar100-python": (("train",), ("test",), "meta"),
}


def detect_layout(names: set[str]) -> str | None:
    """The CIFAR layout whose files are all among ``names`` (base names), if any."""
    for layout, (train, test, meta) in LAYOUTS.items():
        if {*train, *test, meta} <= names:
            return layout
    return None


def find_cifar_folder(path: pathlib.Path) -> tuple[pathlib.Path, str] | None:
    """``(folder, layout)`` for an extracted CIFAR folder or its parent."""
    for folder in (path, *sorted(p for p in path.iterdir() if p.is_dir())):
        layout = detect_layout({p.name for p in folder.iterdir()})
        if layout:
            return folder, layout
    return None


def read_cifar_folder(folder: pathlib.Path, layout: str):
    """Read an extracted CIFAR folder; returns class names and four arrays."""
    return _read_files(layout, lambda name: (folder / name).read_bytes(), folder)


def cifar_archive_layout(archive: pathlib.Path) -> str | None:
    """The CIFAR layout inside a tar archive, or None if it is not one."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            names = {pathlib.PurePosixPath(n).name for n in tar.getnames()}
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise DataError(f"corrupt or truncated archive {archive}: {error}") from None
    return detect_layout(names)


def read_cifar_archive(archive: pathlib.Path, layout: str):
    """Read an official CIFAR ``.tar.gz``; returns class names and four arrays."""
    train, test, meta = LAYOUTS[layout]
    wanted = {*train, *test, meta}
    files = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                base = pathlib.PurePosixPath(member.name).name
                if member.isfile() and base in wanted:
                    files[base] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise DataError(f"corrupt or truncated archive {archive}: {error}") from None
    return _read_files(layout, files.__getitem__, archive)


def _read_files(layout: str, read, source):
    train, test, meta = LAYOUTS[layout]
    if layout.endswith("binary"):
        label_bytes = 2 if layout.startswith("cifar100") else 1
        names = tuple(n for n in read(meta).decode().split("\n") if n.strip())
        parse = _binary_parser(label_bytes, source)
    else:
        names = _python_label_names(read(meta), meta, source)
        parse = _python_parser(source)
    x_train, y_train = _concat([parse(read(name), name) for name in train])
    x_test, y_test = _concat([parse(read(name), name) for name in test])
    return names, x_train, y_train, x_test, y_test


def _concat(parts):
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def _to_images(flat: np.ndarray) -> np.ndarray:
    # Records store the red, green then blue 32x32 planes.
    return flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()


def _binary_parser(label_bytes: int, source):
    record = label_bytes + _RECORD_PIXELS

    def parse(data: bytes, name: str):
        if len(data) == 0 or len(data) % record:
            raise DataError(
                f"{source}: {name} has {len(data)} bytes, not a multiple of the "
                f"{record}-byte CIFAR record (truncated?)"
            )
        rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, record)
        # CIFAR-100 records hold (coarse, fine) labels; use the fine one.
        labels = rows[:, label_bytes - 1].astype(np.int64)
        return _to_images(rows[:, label_bytes:]), labels

    return parse


class _CifarUnpickler(pickle.Unpickler):
    """Builds only what the CIFAR python files contain: no arbitrary objects.

    An array may not ask for more bytes than the whole pickle holds, so a
    crafted shape cannot make it allocate terabytes before failing.
    """

    def __init__(self, data: bytes):
        super().__init__(io.BytesIO(data), encoding="bytes")
        self._budget = len(data)

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module == "_codecs":
            import codecs

            return codecs.encode
        if name == "_reconstruct":
            return self._reconstruct
        return getattr(np, name)

    def _reconstruct(self, cls, shape, dtype):
        if cls is not np.ndarray:
            raise pickle.UnpicklingError(f"refusing to build {cls!r}")
        dims = (shape,) if isinstance(shape, int) else tuple(shape)
        if not all(isinstance(d, int) and d >= 0 for d in dims):
            raise pickle.UnpicklingError(f"invalid array shape {shape!r}")
        size = int(np.prod(dims, dtype=object)) * np.dtype(dtype).itemsize
        if size > self._budget:
            raise pickle.UnpicklingError(
                f"an array of shape {dims} asks for {size:,} bytes, more than "
                f"the {self._budget:,}-byte file holds (corrupt or crafted)"
            )
        return np.ndarray.__new__(cls, dims, dtype)


def _unpickle(data: bytes, name: str, source) -> dict:
    try:
        value = _CifarUnpickler(data).load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        MemoryError,
        OverflowError,
    ) as error:
        raise DataError(f"{source}: cannot read {name}: {error}") from None
    if not isinstance(value, dict):
        raise DataError(f"{source}: {name} does not hold a CIFAR dict")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in value.items()}


def _python_label_names(data: bytes, name: str, source) -> tuple[str, ...]:
    meta = _unpickle(data, name, source)
    names = meta.get("label_names", meta.get("fine_label_names"))
    if names is None:
        raise DataError(f"{source}: {name} holds no label names")
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


def _python_parser(source):
    def parse(data: bytes, name: str):
        batch = _unpickle(data, name, source)
        labels = batch.get("labels", batch.get("fine_labels"))
        pixels = batch.get("data")
        if labels is None or not isinstance(pixels, np.ndarray):
            raise DataError(f"{source}: {name} lacks 'data' or 'labels'")
        if pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] != 3072:
            raise DataError(
                f"{source}: {name} data is {pixels.dtype} {pixels.shape}, "
                "expected uint8 (N, 3072)"
            )
        try:
            labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        except (TypeError, ValueError, OverflowError):
            raise DataError(f"{source}: {name} labels are not integers") from None
        if len(labels) != len(pixels):
            raise DataError(
                f"{source}: {name} has {len(pixels)} images but {len(labels)} labels"
            )
        return _to_images(pixels), labels

    return parse

"""Writers of small datasets in the exact on-disk formats the sources read."""

from __future__ import annotations

import io
import pathlib
import pickle
import tarfile

import numpy as np
from PIL import Image

CLASSES = ("cat", "dog", "frog")


def random_images(count: int, seed: int = 0, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def write_image(path: pathlib.Path, image: np.ndarray, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.fromarray(image)
    if mode != "RGB":
        picture = picture.convert(mode)
    picture.save(path)


def write_image_tree(
    root: pathlib.Path,
    per_class: dict[str, int] | None = None,
    splits=("train", "test"),
    size: int = 8,
) -> pathlib.Path:
    """PNG tree ``root/<split>/<class>/<i>.png``; pixel value encodes the class."""
    per_class = per_class or {"train": 6, "test": 3, "val": 2}
    for split in splits:
        for label, name in enumerate(CLASSES):
            for i in range(per_class[split]):
                image = np.full((size, size, 3), 40 * label + i, dtype=np.uint8)
                write_image(root / split / name / f"{i:03d}.png", image)
    return root


def make_tar(source: pathlib.Path, archive: pathlib.Path, arcname: str = ".") -> None:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname=arcname)


def cifar_records(count: int, num_classes: int, seed: int):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, num_classes, count).astype(np.int64)
    return images, labels


def planes(images: np.ndarray) -> np.ndarray:
    """Images as CIFAR rows: the red, green, blue 1024-byte planes."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def write_cifar10_binary(folder: pathlib.Path, per_batch: int = 4):
    """``cifar-10-batches-bin``: five train batches, a test batch, meta text."""
    folder.mkdir(parents=True)
    out = {}
    for index, name in enumerate(
        [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
    ):
        images, labels = cifar_records(per_batch, 10, index)
        rows = np.concatenate([labels[:, None].astype(np.uint8), planes(images)], 1)
        (folder / f"{name}.bin").write_bytes(rows.tobytes())
        out[name] = (images, labels)
    names = [f"class{i}" for i in range(10)]
    (folder / "batches.meta.txt").write_text("\n".join(names) + "\n\n")
    return out, names


def write_cifar100_binary(folder: pathlib.Path, count: int = 6):
    folder.mkdir(parents=True)
    out = {}
    for index, name in enumerate(["train", "test"]):
        images, fine = cifar_records(count, 100, index)
        coarse = (fine // 5).astype(np.uint8)
        rows = np.concatenate(
            [coarse[:, None], fine[:, None].astype(np.uint8), planes(images)], 1
        )
        (folder / f"{name}.bin").write_bytes(rows.tobytes())
        out[name] = (images, fine)
    names = [f"fine{i}" for i in range(100)]
    (folder / "fine_label_names.txt").write_text("\n".join(names) + "\n")
    (folder / "coarse_label_names.txt").write_text(
        "\n".join(f"c{i}" for i in range(20))
    )
    return out, names


def _dump(path: pathlib.Path, value) -> None:
    # Protocol 2 with bytes keys, as the original Python 2 release.
    path.write_bytes(pickle.dumps(value, protocol=2))


def write_cifar10_python(folder: pathlib.Path, per_batch: int = 4):
    folder.mkdir(parents=True)
    out = {}
    for index, name in enumerate(
        [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
    ):
        images, labels = cifar_records(per_batch, 10, index)
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in labels],
            b"data": planes(images),
            b"filenames": [f"{i}.png".encode() for i in range(per_batch)],
        }
        _dump(folder / name, batch)
        out[name] = (images, labels)
    names = [f"class{i}" for i in range(10)]
    meta = {b"label_names": [n.encode() for n in names], b"num_vis": 3072}
    _dump(folder / "batches.meta", meta)
    return out, names


def write_cifar100_python(folder: pathlib.Path, count: int = 6):
    folder.mkdir(parents=True)
    out = {}
    for index, name in enumerate(["train", "test"]):
        images, fine = cifar_records(count, 100, index)
        batch = {
            b"fine_labels": [int(v) for v in fine],
            b"coarse_labels": [int(v) // 5 for v in fine],
            b"data": planes(images),
        }
        _dump(folder / name, batch)
        out[name] = (images, fine)
    names = [f"fine{i}" for i in range(100)]
    _dump(folder / "meta", {b"fine_label_names": [n.encode() for n in names]})
    return out, names


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def write_npz(path: pathlib.Path, **arrays) -> pathlib.Path:
    """A tiny 3-class ``.npz`` dataset (6 train, 3 test 8x8 images); keyword
    arrays replace the defaults, for bad-input cases."""
    rng = np.random.default_rng(0)
    defaults = {
        "x_train": rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8),
        "y_train": np.array([0, 1, 2, 0, 1, 2]),
        "x_test": rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8),
        "y_test": np.array([0, 1, 2]),
    }
    np.savez(path, **{**defaults, **arrays})
    return path

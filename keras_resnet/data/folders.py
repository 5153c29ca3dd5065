"""Image-folder trees (``train/<class>/*.png`` ...) and ``.tar.gz`` archives of them.

Archives are read directly with ``tarfile`` (no extraction); images are
decoded with Pillow in a thread pool, and the decoded arrays of an archive are
cached as ``.npz`` keyed by the archive's path, size and modification time.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import os
import pathlib
import tarfile
import time
import zlib
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from keras_resnet.data.images import bomb_warnings_as_errors, decode_image
from keras_resnet.data.splits import RawData
from keras_resnet.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
SPLIT_FOLDERS = {"train": "train", "test": "test", "val": "validation"}
SPLIT_FOLDERS["validation"] = "validation"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_DECODE_CHUNK = 512
# Progress of a first decode (INFO): the command line prints it on stderr.
_LOG = logging.getLogger(__name__)

# split -> class -> list of (name for messages, encoded bytes)
Entries = dict[str, dict[str, list[tuple[str, bytes]]]]


def is_archive(path: pathlib.Path) -> bool:
    """Whether ``path`` names a tar archive by its suffix."""
    return path.name.endswith(ARCHIVE_SUFFIXES)


def split_archives(folder: pathlib.Path) -> list[pathlib.Path]:
    """``train.tar.gz``, ``test.tar.gz`` (and ``val.tar.gz``) inside ``folder``."""
    found = []
    for split in SPLIT_FOLDERS:
        for suffix in ARCHIVE_SUFFIXES:
            if (folder / f"{split}{suffix}").is_file():
                found.append(folder / f"{split}{suffix}")
    return found


def load_image_folders(path: pathlib.Path) -> RawData:
    """Read an image-folder tree, a tar of one, or a folder of split archives.

    Raises:
        DataError: For a corrupt archive, an undecodable image, an empty class
            folder, class folders that differ between splits, or images of
            different sizes.
    """
    archives = [path] if path.is_file() else split_archives(path)
    cache = _cache_file(archives) if archives else None
    if cache is not None and cache.is_file():
        return _read_cache(cache, path)
    if archives:
        entries: Entries = {}
        for archive in archives:
            note = " (decoded once, then read from the cache)" if cache else ""
            _LOG.info("Reading %s%s", archive, note)
            _merge(entries, read_tar_entries(archive))
    else:
        entries = read_tree_entries(path)
    raw = _decode_entries(entries, path)
    if cache is not None:
        _write_cache(cache, raw)
    return raw


def read_tree_entries(root: pathlib.Path) -> Entries:
    """Collect the encoded images of an extracted image-folder tree."""
    entries: Entries = {}
    for folder, split in SPLIT_FOLDERS.items():
        split_dir = root / folder
        if not split_dir.is_dir():
            continue
        classes = entries.setdefault(split, {})
        for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            files = sorted(
                p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
            classes[class_dir.name] = [(str(p), p.read_bytes()) for p in files]
    if not entries:
        raise DataError(
            f"{root} is not a dataset folder: expected train/<class>/ and "
            "test/<class>/ image folders, an official CIFAR folder, or "
            "train.tar.gz and test.tar.gz"
        )
    return entries


def read_tar_entries(archive: pathlib.Path) -> Entries:
    """Collect the encoded images of an image-folder tree inside a tar archive."""
    entries: Entries = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                _add_member(entries, tar, member, archive)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise DataError(f"corrupt or truncated archive {archive}: {error}") from None
    if not entries:
        raise DataError(
            f"{archive} holds no train/<class>/ or test/<class>/ image folders"
        )
    return entries


def _add_member(entries: Entries, tar, member, archive) -> None:
    parts = [p for p in member.name.split("/") if p not in ("", ".")]
    if member.isdir() and len(parts) >= 2 and parts[-2] in SPLIT_FOLDERS:
        entries.setdefault(SPLIT_FOLDERS[parts[-2]], {}).setdefault(parts[-1], [])
        return
    if not member.isfile() or len(parts) < 3 or parts[-3] not in SPLIT_FOLDERS:
        return
    if not parts[-1].lower().endswith(IMAGE_SUFFIXES):
        return
    classes = entries.setdefault(SPLIT_FOLDERS[parts[-3]], {})
    data = tar.extractfile(member).read()
    classes.setdefault(parts[-2], []).append((f"{archive}:{member.name}", data))


def _merge(entries: Entries, more: Entries) -> None:
    for split, classes in more.items():
        for name, files in classes.items():
            entries.setdefault(split, {}).setdefault(name, []).extend(files)


def _check_classes(entries: Entries, source: pathlib.Path) -> tuple[str, ...]:
    for split in ("train", "test"):
        if split not in entries:
            raise DataError(f"{source} has no {split}/<class>/ image folders")
    for split, classes in entries.items():
        if not classes:
            folder = "val/" if split == "validation" else f"{split}/"
            raise DataError(
                f"no class folders in {folder} of {source}: expected "
                f"{folder}<class>/ folders of images"
            )
    class_names = tuple(sorted(entries["train"]))
    for split, classes in entries.items():
        if set(classes) != set(class_names):
            only_train = sorted(set(class_names) - set(classes))
            only_other = sorted(set(classes) - set(class_names))
            raise DataError(
                f"class folders of train and {split} differ in {source}: only in "
                f"train {only_train}, only in {split} {only_other}"
            )
        for name, files in classes.items():
            if not files:
                raise DataError(f"class folder {split}/{name} in {source} is empty")
    return class_names


def _decode_entries(entries: Entries, source: pathlib.Path) -> RawData:
    class_names = _check_classes(entries, source)
    arrays = {}
    for split, classes in entries.items():
        items = [
            (item, label)
            for label, name in enumerate(class_names)
            for item in sorted(classes[name])
        ]
        images = decode_images(
            [item for item, _ in items], progress=_decode_progress(source, split)
        )
        labels = np.array([label for _, label in items], dtype=np.int64)
        arrays[split] = (images, labels)
    shapes = {split: x.shape[1:] for split, (x, _) in arrays.items()}
    if len(set(shapes.values())) > 1:
        raise DataError(
            f"images in {source} have different sizes per split: {shapes}; "
            "resize them to one size first"
        )
    val = arrays.get("validation", (None, None))
    return RawData(source.name, class_names, *arrays["train"], *arrays["test"], *val)


def decode_images(
    items: list[tuple[str, bytes]],
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Decode encoded images to one uint8 ``(N, H, W, 3)`` array, in parallel.

    Grayscale, palette and RGBA images are converted to RGB, 16-bit images
    scaled to 8 bits (see ``keras_resnet.data.images``).

    Args:
        items: ``(name for messages, encoded bytes)`` pairs.
        progress: Called as ``progress(done, total)`` as chunks finish.

    Raises:
        DataError: Naming the first image that fails to decode, is larger than
            ``images.MAX_IMAGE_PIXELS``, or whose size differs from the first
            image's.
    """
    # Entered once here, in the calling thread, for the workers too.
    with bomb_warnings_as_errors():
        first = decode_image(*items[0])
        out = np.empty((len(items), *first.shape), dtype=np.uint8)
        workers = min(8, 2 * (os.cpu_count() or 1))
        chunks = range(0, len(items), _DECODE_CHUNK)
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(_decode_chunk, items, out, s) for s in chunks]
            for start, future in zip(chunks, futures, strict=True):
                future.result()
                if progress is not None:
                    progress(min(start + _DECODE_CHUNK, len(items)), len(items))
    return out


def _decode_progress(source: pathlib.Path, split: str) -> Callable[[int, int], None]:
    """Logs ``decoding <source> train: 10,240/50,000 images, 12s left`` each ~10%.

    A split that decodes in one chunk is decoded at once: nothing to report.
    """
    started = time.perf_counter()
    shown = [0]

    def progress(done: int, total: int) -> None:
        if total <= _DECODE_CHUNK:
            return
        if done < total and done - shown[0] < max(total // 10, _DECODE_CHUNK):
            return
        shown[0] = done
        seconds = time.perf_counter() - started
        left = f", {seconds * (total - done) / done:.0f}s left" if done < total else ""
        _LOG.info(
            "Decoding %s %s: %s/%s images%s",
            source.name,
            split,
            f"{done:,}",
            f"{total:,}",
            left,
        )

    return progress


def _decode_chunk(items, out: np.ndarray, start: int) -> None:
    expected = out.shape[1:]
    for index in range(start, min(start + _DECODE_CHUNK, len(items))):
        image = decode_image(*items[index])
        if image.shape != expected:
            raise DataError(
                f"image {items[index][0]} is {image.shape[1]}x{image.shape[0]} but "
                f"{items[0][0]} is {expected[1]}x{expected[0]}; all images must "
                "have one size (resize them first)"
            )
        out[index] = image


# -- on-disk cache of decoded archives -------------------------------------


def cache_dir() -> pathlib.Path | None:
    """The decode cache folder: ``$KERAS_RESNET_CACHE`` or ``~/.cache/keras_resnet``.

    ``KERAS_RESNET_CACHE=none`` turns the cache off.
    """
    value = os.environ.get("KERAS_RESNET_CACHE")
    if value is not None and value.lower() in ("", "none", "off", "0"):
        return None
    if value:
        return pathlib.Path(value).expanduser()
    return pathlib.Path.home() / ".cache" / "keras_resnet"


def _cache_file(archives: list[pathlib.Path]) -> pathlib.Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    key = hashlib.sha256()
    for archive in archives:
        stat = archive.stat()
        key.update(f"{archive.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return folder / f"imagefolder-{key.hexdigest()[:20]}.npz"


def _write_cache(cache: pathlib.Path, raw: RawData) -> None:
    arrays = {
        "class_names": np.array(raw.class_names),
        "x_train": raw.x_train,
        "y_train": raw.y_train,
        "x_test": raw.x_test,
        "y_test": raw.y_test,
    }
    if raw.x_validation is not None:
        arrays.update(x_validation=raw.x_validation, y_validation=raw.y_validation)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(partial, **arrays)
        os.replace(partial, cache)
    except OSError:
        pass  # a read-only cache folder only costs speed


def _read_cache(cache: pathlib.Path, source: pathlib.Path) -> RawData:
    with np.load(cache, allow_pickle=False) as stored:
        arrays = defaultdict(lambda: None, {key: stored[key] for key in stored.files})
    return RawData(
        source.name,
        tuple(str(name) for name in arrays["class_names"]),
        arrays["x_train"],
        arrays["y_train"],
        arrays["x_test"],
        arrays["y_test"],
        arrays["x_validation"],
        arrays["y_validation"],
    )

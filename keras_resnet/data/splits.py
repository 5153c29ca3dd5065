"""``DatasetSplits``: the decoded splits of a data source, as arrays and tf.data."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from keras_resnet._validation import check_choice
from keras_resnet.errors import DataError

SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class RawData:
    """What a source reader returns: decoded uint8 images and int64 labels.

    ``x_validation``/``y_validation`` are set only when the source has its
    own validation split (an image-folder tree with ``val/``).
    """

    name: str
    class_names: tuple[str, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_validation: np.ndarray | None = None
    y_validation: np.ndarray | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class DatasetSplits:
    """The splits of a dataset, decoded once and held in memory.

    Attributes:
        name: The source (TFDS name, file name or ``"synthetic"``).
        class_names: Class names in label order.
        image_shape: ``(height, width, 3)``.
        arrays: Split name (``"train"``, ``"validation"``, ``"test"``) to
            ``(images, labels)``: uint8 ``(N, H, W, 3)`` and int64 ``(N,)``
            NumPy arrays; ``"validation"`` is absent when there is none.
        mean: Per-channel mean of the training images, in pixel units.
        std: Per-channel standard deviation of the training images.
    """

    name: str
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    arrays: dict[str, tuple[np.ndarray, np.ndarray]]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def train_size(self) -> int:
        """Examples in the training split."""
        return self._size("train")

    @property
    def validation_size(self) -> int:
        """Examples in the validation split (0 when there is none)."""
        return self._size("validation")

    @property
    def test_size(self) -> int:
        """Examples in the test split."""
        return self._size("test")

    @property
    def train(self):
        """Unbatched ``tf.data.Dataset`` of ``(uint8 image, int64 label)``."""
        return self.as_tf_dataset("train")

    @property
    def validation(self):
        """The validation ``tf.data.Dataset``, or None."""
        return self.as_tf_dataset("validation") if "validation" in self.arrays else None

    @property
    def test(self):
        """The test ``tf.data.Dataset``."""
        return self.as_tf_dataset("test")

    def as_tf_dataset(self, split: str):
        """An unbatched ``tf.data.Dataset`` over one split's arrays.

        TensorFlow is imported here, so array users never need it.
        """
        check_choice("split", split, self.arrays)
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices(self.arrays[split])

    def describe(self) -> dict[str, Any]:
        """The JSON-ready description written as ``dataset.json``."""
        return {
            "name": self.name,
            "class_names": list(self.class_names),
            "image_shape": list(self.image_shape),
            "num_classes": self.num_classes,
            "train_size": self.train_size,
            "validation_size": self.validation_size,
            "test_size": self.test_size,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    def _size(self, split: str) -> int:
        return len(self.arrays[split][1]) if split in self.arrays else 0


def stratified_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """A seeded order of ``labels``' indices in which every prefix is stratified.

    Each class's indices are shuffled and spread evenly over the order, so the
    first ``k`` indices hold each class in (nearly) its overall proportion.
    """
    rng = np.random.default_rng([seed, 0x5EED])
    key = np.empty(len(labels), dtype=np.float64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        ranks = rng.permutation(len(members)) + rng.random(len(members))
        key[members] = ranks / len(members)
    return np.argsort(key, kind="stable")


def balanced_indices(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """``size`` seeded indices of ``labels`` with (nearly) equal class counts.

    Every class present gets ``size // k`` examples and ``size % k`` classes
    (chosen with the seed) get one more; a class with too few examples gives
    all it has and the others make up the difference. Used for the gradient
    probe, which must not depend on the source's file order.

    Args:
        labels: Integer labels of the split.
        size: How many indices (at most ``len(labels)``).
        seed: Seed of the draw.

    Returns:
        Sorted indices into ``labels``.
    """
    labels = np.asarray(labels)
    size = min(int(size), len(labels))
    rng = np.random.default_rng([seed, 0x960BE])
    classes = rng.permutation(np.unique(labels))
    members = {c: rng.permutation(np.flatnonzero(labels == c)) for c in classes}
    counts = dict.fromkeys(classes, 0)
    remaining = size
    # Deal one at a time round the classes (in seeded order), skipping
    # exhausted ones: equal counts, the remainder spread.
    while remaining:
        for c in classes:
            if remaining and counts[c] < len(members[c]):
                counts[c] += 1
                remaining -= 1
    return np.sort(np.concatenate([members[c][: counts[c]] for c in classes]))


def take_subset(
    x: np.ndarray, y: np.ndarray, limit: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``limit`` examples, stratified by class, in their original order."""
    if limit is None or limit >= len(y):
        return x, y
    keep = np.sort(stratified_order(y, seed)[:limit])
    return x[keep], y[keep]


def hold_out(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Split ``(x, y)`` into stratified ``(train, validation)`` parts."""
    count = int(round(fraction * len(y)))
    if count < 1 or count >= len(y):
        raise DataError(
            f"validation_split={fraction} leaves {len(y) - count} training and "
            f"{count} validation examples of {len(y)}; choose another fraction"
        )
    order = stratified_order(y, seed + 1)
    val, train = np.sort(order[:count]), np.sort(order[count:])
    return (x[train], y[train]), (x[val], y[val])


def channel_stats(
    images: np.ndarray, chunk: int = 4096
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation in pixel units.

    uint8 images (what every source decodes to) are counted per channel and
    value (``np.bincount``: no float copy, no squares); other dtypes are
    summed in float64. Both work over chunks, so 50,000 CIFAR
    images need no full-size copy, and both sums are exact for uint8, so the
    two give the same numbers.
    """
    channels = images.shape[-1]
    count = images.size // channels
    if images.dtype == np.uint8:
        histogram = np.zeros((channels, 256), dtype=np.int64)
        offsets = np.arange(channels, dtype=np.uint16) * 256
        for start in range(0, len(images), chunk):
            block = images[start : start + chunk].reshape(-1, channels) + offsets
            histogram += np.bincount(block.ravel(), minlength=256 * channels).reshape(
                channels, 256
            )
        values = np.arange(256, dtype=np.float64)
        total, squares = histogram @ values, histogram @ np.square(values)
    else:
        total = np.zeros(channels)
        squares = np.zeros(channels)
        for start in range(0, len(images), chunk):
            block = images[start : start + chunk].reshape(-1, channels)
            block = block.astype(np.float64)
            total += block.sum(axis=0)
            squares += np.square(block).sum(axis=0)
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - np.square(mean), 0.0))
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def build_splits(
    raw: RawData,
    *,
    validation_split: float,
    seed: int,
    max_train_examples: int | None,
    max_test_examples: int | None,
) -> DatasetSplits:
    """Check, subset, hold out validation, check labels and compute statistics.

    Raises:
        DataError: For images and labels of different counts, splits of
            different image sizes, labels out of range, or fewer than two
            classes in the training split.
    """
    check_raw(raw)
    num_classes = len(raw.class_names)
    x_train, y_train = take_subset(raw.x_train, raw.y_train, max_train_examples, seed)
    x_test, y_test = take_subset(raw.x_test, raw.y_test, max_test_examples, seed)
    arrays = {"train": (x_train, y_train)}
    if raw.x_validation is not None:
        arrays["validation"] = (raw.x_validation, raw.y_validation)
    elif validation_split > 0:
        arrays["train"], arrays["validation"] = hold_out(
            x_train, y_train, validation_split, seed
        )
    arrays["test"] = (x_test, y_test)
    for split, (x, y) in arrays.items():
        check_arrays(x, y, num_classes, f"{raw.name} ({split} split)")
    check_two_classes(arrays["train"][1], raw.class_names, raw.name)
    mean, std = channel_stats(arrays["train"][0])
    return DatasetSplits(
        name=raw.name,
        class_names=tuple(raw.class_names),
        image_shape=tuple(int(d) for d in arrays["train"][0].shape[1:]),
        arrays={k: arrays[k] for k in SPLITS if k in arrays},
        mean=mean,
        std=std,
    )


def check_raw(raw: RawData) -> None:
    """Refuse what subsetting would hide: count or image-size mismatches.

    Checked before anything indexes the arrays, so 60 images with 50 labels
    fail here rather than train silently on a subset.
    """
    splits = {"train": (raw.x_train, raw.y_train), "test": (raw.x_test, raw.y_test)}
    if raw.x_validation is not None:
        splits["validation"] = (raw.x_validation, raw.y_validation)
    for split, (x, y) in splits.items():
        if len(x) != len(y):
            raise DataError(
                f"{raw.name} ({split} split): {len(x)} images but {len(y)} labels"
            )
    sizes = {split: x.shape[1:] for split, (x, _) in splits.items()}
    if len(set(sizes.values())) > 1:
        described = ", ".join(f"{split} {shape}" for split, shape in sizes.items())
        raise DataError(
            f"{raw.name}: the splits have different image shapes ({described}); "
            "every split must have one image size (resize first)"
        )
    if len(raw.class_names) < 2:
        raise DataError(
            f"{raw.name} has {len(raw.class_names)} class "
            f"{list(raw.class_names)}; a classifier needs at least two classes"
        )


def check_two_classes(labels: np.ndarray, class_names, name: str) -> None:
    """Refuse a training split whose examples all have one label.

    Such a model learns a constant and reports a perfect test accuracy.
    """
    present = np.unique(labels)
    if len(present) < 2:
        label = int(present[0])
        raise DataError(
            f"{name}: every training example has label {label} "
            f"({class_names[label]!r}); a classifier needs at least two classes"
        )


def check_arrays(x: np.ndarray, y: np.ndarray, num_classes: int, where: str) -> None:
    """Raise ``DataError`` unless ``x``/``y`` are uint8 images with valid labels."""
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3:
        raise DataError(
            f"{where}: images must be uint8 of shape (N, H, W, 3), got "
            f"{x.dtype} {x.shape}"
        )
    if y.shape != (len(x),):
        raise DataError(f"{where}: {len(x)} images but labels of shape {y.shape}")
    if len(y) == 0:
        raise DataError(f"{where}: the split is empty")
    bad = (y < 0) | (y >= num_classes)
    if bad.any():
        raise DataError(
            f"{where}: label {int(y[bad][0])} out of range [0, {num_classes})"
        )

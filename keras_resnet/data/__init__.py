"""Data sources and input pipelines.

``load_dataset`` decodes a source once into uint8 arrays (``DatasetSplits``);
``make_pipeline`` turns a split into a batched, epoch-seeded ``tf.data``
pipeline; ``read_image`` decodes one image file the way datasets are decoded
(16-bit scaling, the ``MAX_IMAGE_PIXELS`` limit); ``ArrayLoader`` (in ``keras_resnet.data.loader``) does the same
with NumPy for backends without TensorFlow. TensorFlow is imported lazily, only
where ``tf.data`` or TFDS is used.
"""

from __future__ import annotations

from keras_resnet._validation import check_int, check_number, fail
from keras_resnet.data.images import MAX_IMAGE_PIXELS, read_image
from keras_resnet.data.pipeline import epoch_permutation, make_pipeline
from keras_resnet.data.splits import DatasetSplits, build_splits

__all__ = [
    "MAX_IMAGE_PIXELS",
    "DatasetSplits",
    "epoch_permutation",
    "load_dataset",
    "make_pipeline",
    "read_image",
    "steps_per_epoch",
]


def load_dataset(
    source: str = "cifar10",
    *,
    validation_split: float = 0.0,
    seed: int = 0,
    data_dir: str | None = None,
    max_train_examples: int | None = None,
    max_test_examples: int | None = None,
) -> DatasetSplits:
    """Load a dataset's splits as uint8 images and int64 labels.

    Args:
        source: ``"synthetic"`` (10 classes of coloured shapes, offline), a
            TFDS name (``"cifar10"``, ``"cifar100"``, ...), or a path to the
            official CIFAR-10/100 ``.tar.gz`` (binary or python version) or
            its extracted folder, an image-folder tree (``train/<class>/``,
            ``test/<class>/``, optional ``val/``) or a ``.tar.gz`` of one, a
            folder holding ``train.tar.gz`` and ``test.tar.gz``, or an
            ``.npz`` with ``x_train, y_train, x_test, y_test``.
        validation_split: Fraction of the training examples held out,
            stratified by class and seeded (ignored when the source has its
            own ``val/`` split).
        seed: Seed of the subset, the hold-out and the synthetic data.
        data_dir: TFDS data directory. A TFDS dataset not prepared there is
            downloaded only if its download host (or the proxy) accepts a
            connection within seconds; ``KERAS_RESNET_OFFLINE=1`` never
            downloads.
        max_train_examples: Keep at most this many training examples (a
            stratified subset, taken before the validation hold-out).
        max_test_examples: Keep at most this many test examples.

    Returns:
        A ``DatasetSplits``.

    Raises:
        ValueError: For an invalid argument.
        keras_resnet.errors.DataError: For a missing, corrupt or inconsistent
            source (the message names the file or value).

    Example:
        >>> splits = load_dataset("synthetic", validation_split=0.1)
        >>> splits.num_classes, splits.image_shape
        (10, (32, 32, 3))
    """
    _check_arguments(source, validation_split, max_train_examples, max_test_examples)
    from keras_resnet.data.sources import read_source

    raw = read_source(source, seed=seed, data_dir=data_dir)
    return build_splits(
        raw,
        validation_split=validation_split,
        seed=seed,
        max_train_examples=max_train_examples,
        max_test_examples=max_test_examples,
    )


def _check_arguments(source, validation_split, max_train, max_test) -> None:
    if not isinstance(source, str) or not source:
        fail("source", source, "must be a non-empty string (name or path)")
    check_number("validation_split", validation_split, below=1.0)
    check_int("max_train_examples", max_train, allow_none=True)
    check_int("max_test_examples", max_test, allow_none=True)


def steps_per_epoch(num_examples: int, batch_size: int, *, training: bool) -> int:
    """Batches per epoch: training drops the last partial batch."""
    if training:
        return num_examples // batch_size
    return -(-num_examples // batch_size)

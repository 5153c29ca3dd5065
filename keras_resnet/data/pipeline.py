"""The ``tf.data`` input pipeline: in-memory uint8, epoch-seeded order, batches.

The training order of epoch ``e`` is ``epoch_permutation(n, seed, e)``, a
function of ``(seed, e)`` only, so a run resumed at epoch ``e`` (pass
``initial_epoch=e``) sees exactly the batches an uninterrupted run would,
and the NumPy ``ArrayLoader`` yields the same batches as this pipeline. The
host only gathers uint8 batches; augmentation runs on the device (see
``keras_resnet.augment``). Mixup/CutMix, when enabled, run here as one
vectorized map per batch, because they change the labels.

TensorFlow is imported inside the functions, so importing this module does
not need it.
"""

from __future__ import annotations

import numpy as np

from keras_resnet._validation import check_int

_NO_END = 2**62


def epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    """The order of the training examples in ``epoch`` (0-based) for ``seed``."""
    return np.random.default_rng([seed, epoch]).permutation(num_examples)


def as_arrays(dataset) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` arrays of an unbatched tf.data split, or the pair itself.

    A tf.data dataset is iterated (decoded) once into memory.
    """
    if isinstance(dataset, tuple | list) and len(dataset) == 2:
        x, y = (np.asarray(a) for a in dataset)
    else:
        import tensorflow as tf

        batches = list(
            dataset.batch(8192).prefetch(tf.data.AUTOTUNE).as_numpy_iterator()
        )
        x = np.concatenate([b[0] for b in batches])
        y = np.concatenate([b[1] for b in batches])
    if len(x) != len(y) or len(y) == 0:
        raise ValueError(
            "dataset must hold as many images as labels, at least one. "
            f"Received: dataset with {len(x)} images and {len(y)} labels"
        )
    return x, y.astype(np.int64)


def make_pipeline(
    dataset,
    *,
    batch_size: int,
    training: bool,
    seed: int = 0,
    initial_epoch: int = 0,
    epochs: int | None = None,
    num_classes: int | None = None,
    mixup_alpha: float = 0.0,
    cutmix_alpha: float = 0.0,
):
    """Batch a split for ``model.fit`` / ``evaluate``.

    Args:
        dataset: An unbatched ``tf.data.Dataset`` of ``(image, label)`` (for
            example ``splits.train``) or an ``(images, labels)`` array pair
            (``splits.arrays["train"]``). Decoded once, held in memory.
        batch_size: Examples per batch.
        training: Shuffle per epoch, drop the last partial batch (static
            shapes for XLA) and repeat over epochs; otherwise one pass in
            order, keeping the last partial batch.
        seed: Seed of the order (and of mixup/cutmix).
        initial_epoch: First epoch (0-based) of the training stream; a run
            resumed at epoch ``e`` passes ``e``.
        epochs: Stop after this epoch (exclusive); None repeats forever (pass
            ``steps_per_epoch`` to ``fit``).
        num_classes: Classes, required for mixup/cutmix (labels become
            one-hot float32).
        mixup_alpha: Mixup Beta(alpha, alpha) parameter; 0 turns it off.
        cutmix_alpha: CutMix Beta(alpha, alpha) parameter; 0 turns it off.
            With both on, each batch uses one of them with probability 1/2.

    Returns:
        A ``tf.data.Dataset`` of ``(uint8 images (B, H, W, 3), int64 labels)``
        batches (float32 images and one-hot labels when mixing).
    """
    _check(batch_size, initial_epoch, epochs, num_classes, mixup_alpha, cutmix_alpha)
    import tensorflow as tf

    x, y = as_arrays(dataset)
    if not training:
        return _evaluation_batches(tf, x, y, batch_size)
    steps = len(y) // batch_size
    if steps < 1:
        raise ValueError(
            f"batch_size exceeds the {len(y)} training examples. "
            f"Received: batch_size={batch_size}"
        )
    images, labels = tf.constant(x), tf.constant(y)

    def epoch_batches(epoch):
        order = tf.numpy_function(
            lambda e: epoch_permutation(len(y), seed, int(e)), [epoch], tf.int64
        )
        order = tf.reshape(order[: steps * batch_size], (steps, batch_size))
        epochs_col = tf.fill((steps,), epoch)
        return tf.data.Dataset.from_tensor_slices(
            (epochs_col, tf.range(steps, dtype=tf.int64), order)
        )

    def gather(epoch, step, index):
        return epoch, step, tf.gather(images, index), tf.gather(labels, index)

    end = _NO_END if epochs is None else epochs
    stream = tf.data.Dataset.range(initial_epoch, end).flat_map(epoch_batches)
    stream = stream.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if mixup_alpha > 0 or cutmix_alpha > 0:
        from keras_resnet.data.mixing import mix_batch_tf

        def mix(epoch, step, batch_x, batch_y):
            return mix_batch_tf(
                batch_x,
                tf.one_hot(batch_y, num_classes),
                seed=(seed, epoch * 1_000_003 + step),
                mixup_alpha=mixup_alpha,
                cutmix_alpha=cutmix_alpha,
            )

        stream = stream.map(
            mix, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
    else:
        stream = stream.map(lambda epoch, step, bx, by: (bx, by))
    return stream.prefetch(tf.data.AUTOTUNE)


def _evaluation_batches(tf, x, y, batch_size):
    images, labels = tf.constant(x), tf.constant(y)
    starts = tf.data.Dataset.range(0, len(y), batch_size)
    batches = starts.map(
        lambda s: (images[s : s + batch_size], labels[s : s + batch_size]),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return batches.prefetch(tf.data.AUTOTUNE)


def _check(batch_size, initial_epoch, epochs, num_classes, mixup_alpha, cutmix_alpha):
    check_batching(batch_size, initial_epoch)
    if epochs is not None and epochs < initial_epoch:
        raise ValueError(
            f"epochs must be >= initial_epoch={initial_epoch}. Received: epochs={epochs}"
        )
    check_mixing(num_classes, mixup_alpha, cutmix_alpha)


def check_batching(batch_size, initial_epoch) -> None:
    """Validate the batch size and first epoch shared by pipeline and loader."""
    check_int("batch_size", batch_size)
    check_int("initial_epoch", initial_epoch, minimum=0)


def check_mixing(num_classes, mixup_alpha, cutmix_alpha) -> None:
    """Validate the mixup/cutmix arguments shared by pipeline and loader."""
    for name, value in (("mixup_alpha", mixup_alpha), ("cutmix_alpha", cutmix_alpha)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0. Received: {name}={value}")
    if (mixup_alpha > 0 or cutmix_alpha > 0) and not num_classes:
        raise ValueError(
            "num_classes is required for mixup/cutmix (one-hot labels). "
            f"Received: num_classes={num_classes!r}"
        )

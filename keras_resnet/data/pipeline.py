"""The ``tf.data`` input pipeline: in-memory uint8, epoch-seeded order, batches.

The training order of epoch ``e`` is ``epoch_permutation(n, seed, e)``, a
function of ``(seed, e)`` only, so a run resumed at epoch ``e`` (pass
``initial_epoch=e``) sees exactly the batches an uninterrupted run would,
and the NumPy ``ArrayLoader`` yields the same batches as this pipeline. The
host only gathers uint8 batches; augmentation runs on the device (see
``keras_resnet.augment``). Mixup/CutMix, when enabled, run here as one map
per batch, because they change the labels: ``keras_resnet.data.mixing``,
the same NumPy code the ``ArrayLoader`` calls, so both mix alike.

TensorFlow is imported inside the functions, so importing this module does
not need it.
"""

from __future__ import annotations

import numpy as np

from keras_resnet._validation import check_int, check_number, fail

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
    check_lengths(x, y)
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
    check_batching(batch_size, seed, initial_epoch)
    check_int("epochs", epochs, minimum=0, allow_none=True)
    if epochs is not None and epochs < initial_epoch:
        fail("epochs", epochs, f"must be >= initial_epoch={initial_epoch}")
    check_mixing(num_classes, mixup_alpha, cutmix_alpha)
    import tensorflow as tf

    x, y = as_arrays(dataset)
    if not training:
        return _evaluation_batches(tf, x, y, batch_size)
    check_training_batch(batch_size, len(y))
    steps = len(y) // batch_size
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
        mix = _tf_mixing(tf, seed, num_classes, mixup_alpha, cutmix_alpha)
        stream = stream.map(
            mix, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
    else:
        stream = stream.map(lambda epoch, step, bx, by: (bx, by))
    return stream.prefetch(tf.data.AUTOTUNE)


def _tf_mixing(tf, seed, num_classes, mixup_alpha, cutmix_alpha):
    """A batch map running ``mixing.mix_batch``: the ``ArrayLoader``'s own code."""
    from keras_resnet.data.mixing import mix_batch, one_hot

    def mix_numpy(epoch, step, images, labels):
        return mix_batch(
            images,
            one_hot(labels, num_classes),
            seed=seed,
            epoch=int(epoch),
            step=int(step),
            mixup_alpha=mixup_alpha,
            cutmix_alpha=cutmix_alpha,
        )

    def mix(epoch, step, images, labels):
        x, y = tf.numpy_function(
            mix_numpy,
            [epoch, step, images, labels],
            [tf.float32, tf.float32],
            stateful=False,
        )
        x.set_shape(images.shape)
        y.set_shape((images.shape[0], num_classes))
        return x, y

    return mix


def _evaluation_batches(tf, x, y, batch_size):
    images, labels = tf.constant(x), tf.constant(y)
    starts = tf.data.Dataset.range(0, len(y), batch_size)
    batches = starts.map(
        lambda s: (images[s : s + batch_size], labels[s : s + batch_size]),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return batches.prefetch(tf.data.AUTOTUNE)


def check_batching(batch_size, seed, initial_epoch) -> None:
    """Validate the batch size, seed and first epoch shared by pipeline and loader."""
    check_int("batch_size", batch_size)
    # NumPy generators (the order, the mixing) take non-negative seeds only.
    check_int("seed", seed, minimum=0)
    check_int("initial_epoch", initial_epoch, minimum=0)


def check_lengths(images, labels) -> None:
    """Refuse an empty split or one whose image and label counts differ."""
    check_int("len(labels)", len(labels))
    if len(images) != len(labels):
        fail("len(labels)", len(labels), f"must equal len(images)={len(images)}")


def check_training_batch(batch_size, num_examples) -> None:
    """Refuse a training batch larger than the split (no full batch to draw)."""
    if batch_size > num_examples:
        fail("batch_size", batch_size, f"exceeds the {num_examples} training examples")


def check_mixing(num_classes, mixup_alpha, cutmix_alpha) -> None:
    """Validate the mixup/cutmix arguments shared by pipeline and loader."""
    check_number("mixup_alpha", mixup_alpha)
    check_number("cutmix_alpha", cutmix_alpha)
    if mixup_alpha > 0 or cutmix_alpha > 0:
        if num_classes is None:
            fail("num_classes", num_classes, "is required for mixup/cutmix")
        check_int("num_classes", num_classes)

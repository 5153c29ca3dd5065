"""Mixup and CutMix as a ``tf.data`` batch map (TensorFlow ops, stateless seeds).

The same operations for any Keras backend are ``keras_resnet.augment.mix_batch``
(used by the NumPy loader). Mixup: Zhang et al. 2018; CutMix: Yun et al. 2019.
One mixing coefficient and one box per batch, as in the reference code.
"""

from __future__ import annotations


def mix_batch_tf(images, one_hot, *, seed, mixup_alpha: float, cutmix_alpha: float):
    """Mix a batch with a shuffled copy of itself.

    Args:
        images: ``(B, H, W, C)`` batch (any numeric dtype).
        one_hot: ``(B, num_classes)`` float labels.
        seed: Pair of integers or scalar tensors; the same seed mixes alike.
        mixup_alpha: Mixup Beta parameter (0: off).
        cutmix_alpha: CutMix Beta parameter (0: off). With both on, each
            batch uses one of them with probability 1/2.

    Returns:
        float32 images and mixed float32 labels.
    """
    import tensorflow as tf

    seed = tf.stack([tf.cast(s, tf.int64) for s in seed])
    keys = tf.random.experimental.stateless_split(seed, 4)
    x = tf.cast(images, tf.float32)
    y = tf.cast(one_hot, tf.float32)
    perm = tf.argsort(tf.random.stateless_uniform(tf.shape(x)[:1], keys[0]))

    def mixup():
        lam = _beta(tf, mixup_alpha, keys[2])
        mixed_x = lam * x + (1.0 - lam) * tf.gather(x, perm)
        return mixed_x, lam * y + (1.0 - lam) * tf.gather(y, perm)

    def cutmix():
        lam = _beta(tf, cutmix_alpha, keys[2])
        mask, area = _box_mask(tf, tf.shape(x), lam, keys[3])
        mixed_x = tf.where(mask[None, :, :, None], tf.gather(x, perm), x)
        return mixed_x, (1.0 - area) * y + area * tf.gather(y, perm)

    if mixup_alpha > 0 and cutmix_alpha > 0:
        use_cutmix = tf.random.stateless_uniform((), keys[1]) < 0.5
        return tf.cond(use_cutmix, cutmix, mixup)
    return cutmix() if cutmix_alpha > 0 else mixup()


def _beta(tf, alpha: float, key):
    gammas = tf.random.stateless_gamma((2,), key, alpha=alpha)
    return gammas[0] / (gammas[0] + gammas[1])


def _box_mask(tf, shape, lam, key):
    """A box covering about ``1 - lam`` of the image; returns (mask, exact area)."""
    height, width = shape[1], shape[2]
    cut = tf.sqrt(1.0 - lam)
    half_h = tf.cast(tf.cast(height, tf.float32) * cut / 2, tf.int32)
    half_w = tf.cast(tf.cast(width, tf.float32) * cut / 2, tf.int32)
    centre = tf.random.stateless_uniform((2,), key)
    cy = tf.cast(centre[0] * tf.cast(height, tf.float32), tf.int32)
    cx = tf.cast(centre[1] * tf.cast(width, tf.float32), tf.int32)
    y0, y1 = tf.maximum(cy - half_h, 0), tf.minimum(cy + half_h, height)
    x0, x1 = tf.maximum(cx - half_w, 0), tf.minimum(cx + half_w, width)
    rows, cols = tf.range(height), tf.range(width)
    mask = ((rows >= y0) & (rows < y1))[:, None] & ((cols >= x0) & (cols < x1))[None, :]
    area = tf.cast((y1 - y0) * (x1 - x0), tf.float32) / tf.cast(
        height * width, tf.float32
    )
    return mask, area

"""Mixup and CutMix: one NumPy implementation for both input paths.

Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) change the labels, so
they run in the input pipeline, not in the model. ``make_pipeline`` (tf.data)
calls ``mix_batch`` through ``tf.numpy_function`` and the NumPy
``ArrayLoader`` calls it directly, so for the same ``(seed, epoch, step)``
both paths give the same mixed batch. Every draw comes from one NumPy
generator keyed by ``(seed, epoch, step)``: a resumed run mixes its batches
as an uninterrupted one would. One coefficient and one box per batch, as in
the reference code.

Imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import math

import numpy as np

# Part of the generator's key: keeps these draws apart from the order of
# ``epoch_permutation``, which keys a generator by (seed, epoch).
_STREAM = 0x6D6978


def one_hot(labels, num_classes: int) -> np.ndarray:
    """float32 ``(B, num_classes)`` one-hot rows of integer ``labels``."""
    return np.eye(num_classes, dtype=np.float32)[np.asarray(labels)]


def mix_batch(
    images,
    one_hot_labels,
    *,
    seed: int,
    epoch: int = 0,
    step: int = 0,
    mixup_alpha: float = 0.0,
    cutmix_alpha: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Mix a batch with a shuffled copy of itself (Mixup or CutMix).

    With both alphas positive, each batch uses one of them with probability
    1/2. The draws, in this order: the Mixup-or-CutMix coin, the partner
    permutation, the coefficient ``lam ~ Beta(alpha, alpha)`` and the CutMix
    box centre.

    Args:
        images: ``(B, H, W, C)`` batch (any numeric dtype).
        one_hot_labels: ``(B, num_classes)`` labels (see ``one_hot``).
        seed: Seed of the run (non-negative).
        epoch: Epoch of the batch (0-based).
        step: Index of the batch in its epoch.
        mixup_alpha: Mixup Beta(alpha, alpha) parameter (0: off).
        cutmix_alpha: CutMix Beta(alpha, alpha) parameter (0: off).

    Returns:
        float32 images and float32 mixed labels. CutMix weighs the pasted
        image's label by the exact fraction of pixels pasted.
    """
    x = np.array(images, dtype=np.float32)  # a copy: CutMix writes into it
    y = np.asarray(one_hot_labels, dtype=np.float32)
    if mixup_alpha <= 0 and cutmix_alpha <= 0:
        return x, y
    rng = np.random.default_rng([seed, epoch, step, _STREAM])
    coin = rng.random()
    use_cutmix = cutmix_alpha > 0 and (mixup_alpha <= 0 or coin < 0.5)
    perm = rng.permutation(len(y))
    alpha = cutmix_alpha if use_cutmix else mixup_alpha
    lam = float(rng.beta(alpha, alpha))
    centre = rng.random(2)
    if not use_cutmix:
        # float32 weights keep the result float32 (NumPy 2 promotion rules).
        keep, take = np.float32(lam), np.float32(1.0 - lam)
        return keep * x + take * x[perm], keep * y + take * y[perm]
    height, width = x.shape[1], x.shape[2]
    top, bottom, left, right = cutmix_box(height, width, lam, centre)
    x[:, top:bottom, left:right] = x[perm, top:bottom, left:right]
    pasted = np.float32((bottom - top) * (right - left) / (height * width))
    return x, (1 - pasted) * y + pasted * y[perm]


def cutmix_box(
    height: int, width: int, lam: float, centre
) -> tuple[int, int, int, int]:
    """The box CutMix pastes: about ``1 - lam`` of the image, clipped at the borders.

    Its sides are ``sqrt(1 - lam)`` of the image's (rounded down to an even
    number of pixels), centred at ``centre`` (two fractions in [0, 1)), as in
    Yun et al. 2019.

    Args:
        height: Image height in pixels.
        width: Image width in pixels.
        lam: Mixing coefficient in [0, 1]: the fraction of the image kept.
        centre: ``(row, column)`` of the box centre as fractions of the size.

    Returns:
        ``(top, bottom, left, right)``: rows ``top:bottom`` and columns
        ``left:right`` are pasted.
    """
    cut = math.sqrt(1.0 - lam)
    half_h, half_w = int(height * cut / 2), int(width * cut / 2)
    row, col = int(centre[0] * height), int(centre[1] * width)
    return (
        max(row - half_h, 0),
        min(row + half_h, height),
        max(col - half_w, 0),
        min(col + half_w, width),
    )

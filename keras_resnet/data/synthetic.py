"""A small learnable dataset of coloured shapes, generated offline."""

from __future__ import annotations

import functools

import numpy as np

from keras_resnet._validation import check_int
from keras_resnet.data.splits import RawData

CLASS_NAMES = (
    "disk",
    "square",
    "diamond",
    "ring",
    "plus",
    "hbar",
    "vbar",
    "triangle",
    "frame",
    "cross",
)

# One base colour per class (RGB): colour and shape both carry the label, so
# a tiny network learns it in a few epochs; the jitter keeps it non-trivial.
_COLOURS = np.array(
    [
        (230, 60, 60),
        (60, 200, 60),
        (70, 90, 230),
        (230, 210, 50),
        (210, 70, 210),
        (60, 210, 210),
        (240, 140, 40),
        (150, 90, 40),
        (230, 230, 230),
        (120, 60, 200),
    ],
    dtype=np.float64,
)


def _shape_mask(label: int, dy: np.ndarray, dx: np.ndarray, r: np.ndarray):
    ay, ax, big = np.abs(dy), np.abs(dx), np.maximum(np.abs(dy), np.abs(dx))
    dist = np.sqrt(dy**2 + dx**2)
    thin = r / 3
    masks = {
        0: lambda: dist <= r,
        1: lambda: big <= r,
        2: lambda: ay + ax <= r,
        3: lambda: (dist <= r) & (dist >= r / 2),
        4: lambda: ((ay <= thin) & (ax <= r)) | ((ax <= thin) & (ay <= r)),
        5: lambda: (ay <= thin) & (ax <= r),
        6: lambda: (ax <= thin) & (ay <= r),
        7: lambda: (ay <= r) & (ax <= (dy + r) / 2),
        8: lambda: (big <= r) & (big >= r / 2),
        9: lambda: (np.abs(ax - ay) <= r / 4) & (big <= r),
    }
    return masks[label]()


def make_synthetic(
    num_examples: int, *, image_size: int = 32, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``num_examples`` images of coloured shapes, balanced over 10 classes.

    Args:
        num_examples: How many images.
        image_size: Side of the square images in pixels (at least 8).
        seed: Seed of the generator; the same seed gives the same images.

    Returns:
        uint8 images ``(N, S, S, 3)`` and int64 labels ``(N,)``.
    """
    check_int("image_size", image_size, minimum=8)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_examples) % len(CLASS_NAMES))
    grid = np.arange(image_size, dtype=np.float64)
    images = rng.uniform(0, 90, size=(num_examples, image_size, image_size, 3))
    radius = rng.uniform(0.22, 0.38, num_examples) * image_size
    centre = rng.uniform(0.35, 0.65, (num_examples, 2)) * image_size
    colour = _COLOURS[labels] + rng.uniform(-35, 35, (num_examples, 3))
    shapes = np.empty((num_examples, image_size, image_size, 1), dtype=bool)
    for label in range(len(CLASS_NAMES)):
        idx = np.flatnonzero(labels == label)
        dy = grid[None, :, None] - centre[idx, 0, None, None]
        dx = grid[None, None, :] - centre[idx, 1, None, None]
        shapes[idx, ..., 0] = _shape_mask(label, dy, dx, radius[idx, None, None])
    # In place: the images are the largest arrays here (float64, 4 x uint8).
    np.copyto(images, colour[:, None, None, :], where=shapes)
    np.clip(images, 0, 255, out=images)
    return images.astype(np.uint8), labels.astype(np.int64)


def load_synthetic(
    *, num_train: int = 5000, num_test: int = 1000, image_size: int = 32, seed: int = 0
) -> RawData:
    """The synthetic source: independent train and test draws."""
    x_train, y_train = _make_once(num_train, image_size, seed)
    x_test, y_test = _make_once(num_test, image_size, seed + 1)
    return RawData("synthetic", CLASS_NAMES, x_train, y_train, x_test, y_test)


@functools.lru_cache(maxsize=2)
def _cached(num_examples: int, image_size: int, seed: int):
    return make_synthetic(num_examples, image_size=image_size, seed=seed)


def _make_once(num_examples: int, image_size: int, seed: int):
    """``make_synthetic`` computed once per process (about a second for the
    train split); callers get copies, so the cached arrays stay unchanged."""
    return tuple(a.copy() for a in _cached(num_examples, image_size, seed))

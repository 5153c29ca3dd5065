"""Mixup/CutMix: one implementation, the same batches from tf.data and NumPy."""

import numpy as np
import pytest
from import_blocker import blocked_python

from keras_resnet.data import make_pipeline
from keras_resnet.data.loader import ArrayLoader
from keras_resnet.data.mixing import cutmix_box, mix_batch, one_hot

ALPHAS = {"mixup": (0.4, 0.0), "cutmix": (0.0, 1.0), "both": (0.4, 1.0)}


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (43, 8, 8, 3), dtype=np.uint8)
    return x, np.arange(43, dtype=np.int64) % 10


@pytest.fixture(scope="module")
def flat_batch():
    """Ten 12x10 images, image k filled with 10 * (k + 1), labelled k.

    A mixed pixel then tells which images it came from, and the share of
    each image in a mixed image can be compared with its label weight.
    """
    values = 10.0 * np.arange(1, 11, dtype=np.float32)
    images = np.broadcast_to(values[:, None, None, None], (10, 12, 10, 3))
    return images.astype(np.uint8), one_hot(np.arange(10), 10), values


@pytest.mark.parametrize("kind", list(ALPHAS))
def test_pipeline_and_loader_mix_alike(arrays, kind):
    """Same seed, epoch and step: the same mixed images and labels on both paths."""
    mixup_alpha, cutmix_alpha = ALPHAS[kind]
    mixing = dict(num_classes=10, mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha)
    pipeline = make_pipeline(
        arrays, batch_size=8, training=True, seed=7, epochs=2, **mixing
    )
    batches = list(pipeline.as_numpy_iterator())
    loader = ArrayLoader(*arrays, batch_size=8, training=True, seed=7, **mixing)
    assert len(batches) == 2 * len(loader) == 10
    for epoch in range(2):
        loader.set_epoch(epoch)
        for step in range(len(loader)):
            (x, y), (lx, ly) = batches[5 * epoch + step], loader[step]
            assert x.dtype == lx.dtype == y.dtype == ly.dtype == np.float32
            assert x.shape == (8, 8, 8, 3) and y.shape == (8, 10)
            np.testing.assert_allclose(x, lx, rtol=1e-6)
            np.testing.assert_allclose(y, ly, rtol=1e-6)
            np.testing.assert_allclose(y.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(loader[0][0], loader[0][0])  # no hidden state
    mixed = np.concatenate([y for _, y in batches])
    assert (mixed.max(1) < 1.0).any()  # some labels really are mixed
    assert not np.array_equal(batches[0][0], batches[5][0])  # epochs differ


@pytest.mark.parametrize("kind", list(ALPHAS))
@pytest.mark.parametrize("step", range(6))
def test_label_weights_are_each_images_share(flat_batch, kind, step):
    """Every pixel is the label-weighted sum of the images; CutMix pastes
    exactly the label weight's fraction of pixels."""
    images, labels, values = flat_batch
    mixup_alpha, cutmix_alpha = ALPHAS[kind]
    x, y = mix_batch(
        images,
        labels,
        seed=3,
        step=step,
        mixup_alpha=mixup_alpha,
        cutmix_alpha=cutmix_alpha,
    )
    np.testing.assert_allclose(x.mean(axis=(1, 2, 3)), y @ values, rtol=1e-5)
    pasted = np.isin(x, values) & (x != images)  # whole pixels of another image
    if kind == "mixup" or not pasted.any():
        return
    for image, weights in zip(x, y, strict=True):
        found = [(image == v).mean() for v in values]
        np.testing.assert_allclose(found, weights, atol=1e-6)


@pytest.mark.parametrize(
    ("height", "width", "lam", "centre", "box"),
    [
        (32, 32, 0.75, (0.5, 0.5), (8, 24, 8, 24)),  # half the sides: 1/4 area
        (32, 32, 1.0, (0.5, 0.5), (16, 16, 16, 16)),  # lam 1: nothing pasted
        (32, 32, 0.0, (0.5, 0.5), (0, 32, 0, 32)),  # lam 0: all pasted
        (32, 16, 0.75, (0.0, 0.99), (0, 8, 11, 16)),  # clipped at two borders
    ],
)
def test_cutmix_box(height, width, lam, centre, box):
    assert cutmix_box(height, width, lam, centre) == box


@pytest.mark.parametrize("lam", [0.1, 0.3, 0.5, 0.7, 0.9])
def test_unclipped_box_covers_one_minus_lam(lam):
    top, bottom, left, right = cutmix_box(64, 48, lam, (0.5, 0.5))
    area = (bottom - top) * (right - left) / (64 * 48)
    side = np.sqrt(1 - lam)  # sides rounded down to even pixels: <= 2 px less
    assert (side - 2 / 48) ** 2 <= area <= 1 - lam


def test_mix_batch_is_seeded_and_leaves_its_input(flat_batch):
    images, labels, _ = flat_batch
    floats = images.astype(np.float32)
    run = lambda **key: mix_batch(floats, labels, cutmix_alpha=1.0, **key)  # noqa: E731
    first = run(seed=1, epoch=2, step=3)
    np.testing.assert_array_equal(first[0], run(seed=1, epoch=2, step=3)[0])
    for other in ({"seed": 2}, {"epoch": 3}, {"step": 4}):
        key = {"seed": 1, "epoch": 2, "step": 3, **other}
        assert not np.array_equal(first[1], run(**key)[1])
    np.testing.assert_array_equal(floats, images)  # CutMix wrote into a copy
    x, y = mix_batch(images, labels, seed=1)  # both alphas 0: only the dtype
    assert x.dtype == np.float32 and np.array_equal(x, images)
    assert np.array_equal(y, labels)


def test_mixing_imports_neither_keras_nor_tensorflow():
    code = (
        "import numpy as np\n"
        "from keras_resnet.data.mixing import mix_batch, one_hot\n"
        "x, y = mix_batch(np.zeros((4, 8, 8, 3), np.uint8), one_hot([0, 1, 2, 3], 4),"
        " seed=0, mixup_alpha=0.2, cutmix_alpha=1.0)\n"
        "print(x.shape, y.shape)\n"
    )
    done = blocked_python(code, "keras", "tensorflow", "jax", "torch", timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(4, 8, 8, 3) (4, 4)"

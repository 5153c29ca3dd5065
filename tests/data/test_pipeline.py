import numpy as np
import pytest

from keras_resnet.data import (
    epoch_permutation,
    load_dataset,
    make_pipeline,
    steps_per_epoch,
)
from keras_resnet.data.loader import ArrayLoader


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (103, 8, 8, 3), dtype=np.uint8)
    return x, np.arange(103, dtype=np.int64) % 10


def _batches(pipeline):
    return [(x, y) for x, y in pipeline.as_numpy_iterator()]


def test_training_batches_follow_the_epoch_permutation(arrays):
    x, y = arrays
    batches = _batches(
        make_pipeline(arrays, batch_size=10, training=True, seed=5, epochs=2)
    )
    assert len(batches) == 2 * steps_per_epoch(103, 10, training=True) == 20
    assert all(bx.shape == (10, 8, 8, 3) and bx.dtype == np.uint8 for bx, _ in batches)
    for epoch in range(2):
        order = epoch_permutation(103, 5, epoch)[:100]
        seen = np.concatenate([by for _, by in batches[10 * epoch : 10 * epoch + 10]])
        assert np.array_equal(seen, y[order])
    assert not np.array_equal(batches[0][1], batches[10][1])


def test_resumed_pipeline_sees_the_same_batches(arrays):
    full = _batches(
        make_pipeline(arrays, batch_size=16, training=True, seed=1, epochs=3)
    )
    resumed = _batches(
        make_pipeline(
            arrays, batch_size=16, training=True, seed=1, initial_epoch=2, epochs=3
        )
    )
    assert len(resumed) == 6
    for (a, b), (c, d) in zip(full[12:], resumed, strict=True):
        assert np.array_equal(a, c) and np.array_equal(b, d)


def test_infinite_training_stream_and_seed(arrays):
    stream = make_pipeline(arrays, batch_size=16, training=True, seed=1)
    other = make_pipeline(arrays, batch_size=16, training=True, seed=2)
    first = [y for _, y in stream.take(20).as_numpy_iterator()]
    assert len(first) == 20  # repeats past one epoch (6 steps)
    assert not np.array_equal(first[0], next(iter(other))[1].numpy())


def test_evaluation_keeps_order_and_last_batch(arrays):
    x, y = arrays
    batches = _batches(make_pipeline(arrays, batch_size=25, training=False))
    assert [len(b) for _, b in batches] == [25, 25, 25, 25, 3]
    assert np.array_equal(np.concatenate([b for b, _ in batches]), x)


def test_pipeline_accepts_tf_dataset_split():
    splits = load_dataset("synthetic", max_train_examples=64, max_test_examples=10)
    from_ds = _batches(
        make_pipeline(splits.train, batch_size=32, training=True, epochs=1)
    )
    from_arrays = _batches(
        make_pipeline(splits.arrays["train"], batch_size=32, training=True, epochs=1)
    )
    assert all(
        np.array_equal(a[0], b[0]) for a, b in zip(from_ds, from_arrays, strict=True)
    )


def test_loader_matches_pipeline(arrays):
    pipeline = _batches(
        make_pipeline(arrays, batch_size=10, training=True, seed=3, epochs=2)
    )
    loader = ArrayLoader(*arrays, batch_size=10, training=True, seed=3)
    assert len(loader) == 10
    for epoch in range(2):
        for step in range(10):
            bx, by = loader[step]
            assert np.array_equal(bx, pipeline[10 * epoch + step][0])
            assert np.array_equal(by, pipeline[10 * epoch + step][1])
        loader.set_epoch(epoch + 1)
    resumed = ArrayLoader(
        *arrays, batch_size=10, training=True, seed=3, initial_epoch=1
    )
    assert np.array_equal(resumed[4][1], pipeline[14][1])


def test_loader_evaluation(arrays):
    loader = ArrayLoader(*arrays, batch_size=25, training=False)
    assert len(loader) == 5 and len(loader[4][1]) == 3
    assert np.array_equal(loader[1][0], arrays[0][25:50])
    with pytest.raises(IndexError):
        loader[5]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size=0"),
        ({"batch_size": 500}, "batch_size=500"),
        ({"batch_size": 8, "initial_epoch": -1}, "initial_epoch=-1"),
        ({"batch_size": 8, "mixup_alpha": 0.2}, "num_classes=None"),
        ({"batch_size": 8, "cutmix_alpha": -1.0}, "cutmix_alpha=-1.0"),
        ({"batch_size": 8, "mixup_alpha": float("nan")}, "mixup_alpha=nan"),
        ({"batch_size": 8, "seed": -1}, "seed=-1"),
    ],
)
def test_pipeline_bad_arguments(arrays, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_pipeline(arrays, training=True, **kwargs)
    with pytest.raises(ValueError, match=message):
        ArrayLoader(*arrays, training=True, **kwargs)


def test_bad_epochs_and_lengths(arrays):
    with pytest.raises(ValueError, match=r"initial_epoch=2\. Received: epochs=1$"):
        make_pipeline(arrays, batch_size=8, training=True, initial_epoch=2, epochs=1)
    x, y = arrays
    with pytest.raises(
        ValueError, match=r"len\(images\)=103\. Received: len\(labels\)=3$"
    ):
        make_pipeline((x, y[:3]), batch_size=1, training=False)
    with pytest.raises(ValueError, match=r"Received: len\(labels\)=0$"):
        ArrayLoader(x[:0], y[:0], batch_size=1, training=False)

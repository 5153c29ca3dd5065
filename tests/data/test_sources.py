import numpy as np
import pytest
from data_helpers import (
    CLASSES,
    make_tar,
    random_images,
    write_cifar10_binary,
    write_cifar10_python,
    write_cifar100_binary,
    write_cifar100_python,
    write_image,
    write_image_tree,
)

from keras_resnet.data import load_dataset
from keras_resnet.data.synthetic import CLASS_NAMES, make_synthetic
from keras_resnet.errors import DataError

# -- synthetic ---------------------------------------------------------------


def test_synthetic_is_deterministic_and_balanced():
    x1, y1 = make_synthetic(200, seed=3)
    x2, y2 = make_synthetic(200, seed=3)
    x3, _ = make_synthetic(200, seed=4)
    assert x1.shape == (200, 32, 32, 3) and x1.dtype == np.uint8
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    assert np.bincount(y1).tolist() == [20] * 10


def test_synthetic_source_is_generated_once_and_handed_out_as_copies():
    from keras_resnet.data.sources import read_source

    first = read_source("synthetic", seed=0, data_dir=None)
    first.x_train[:] = 0  # a caller writing into its arrays
    second = read_source("synthetic", seed=0, data_dir=None)
    x, y = make_synthetic(5000, seed=0)
    assert np.array_equal(second.x_train, x) and np.array_equal(second.y_train, y)
    assert second.x_train is not first.x_train
    assert np.array_equal(second.x_test, make_synthetic(1000, seed=1)[0])


def test_synthetic_classes_are_separable_by_a_simple_rule():
    # The shape sits in the centre; the mean colour of the central patch
    # alone should already beat chance by far (nearest class centroid).
    x, y = make_synthetic(1000, seed=0)
    features = x[:, 12:20, 12:20].reshape(len(x), -1, 3).mean(1)
    centroids = np.stack([features[y == c].mean(0) for c in range(10)])
    xt, yt = make_synthetic(500, seed=1)
    test = xt[:, 12:20, 12:20].reshape(len(xt), -1, 3).mean(1)
    predicted = np.argmin(((test[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (predicted == yt).mean() > 0.5


def test_load_synthetic_splits_and_stats():
    splits = load_dataset("synthetic", validation_split=0.2, max_train_examples=500)
    assert splits.class_names == CLASS_NAMES and splits.num_classes == 10
    assert (splits.train_size, splits.validation_size) == (400, 100)
    assert splits.test_size == 1000
    assert splits.image_shape == (32, 32, 3)
    x_val, y_val = splits.arrays["validation"]
    assert np.bincount(y_val, minlength=10).tolist() == [10] * 10
    x_train = splits.arrays["train"][0].reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(splits.mean, x_train.mean(0), rtol=1e-9)
    np.testing.assert_allclose(splits.std, x_train.std(0), rtol=1e-9)
    description = splits.describe()
    assert description["train_size"] == 400 and description["num_classes"] == 10


def test_channel_stats_of_uint8_images_equal_the_float64_sums_exactly():
    from keras_resnet.data.splits import channel_stats

    # Three chunks of 7 (the last one short), values at both ends of uint8.
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (17, 5, 4, 3), dtype=np.uint8)
    images[0, 0, 0] = (0, 255, 0)
    as_float = images.astype(np.float64)
    histogram = channel_stats(images, chunk=7)
    summed = channel_stats(as_float, chunk=7)
    assert histogram == summed  # both sums are exact: the same floats
    np.testing.assert_allclose(histogram[0], as_float.mean((0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(histogram[1], as_float.std((0, 1, 2)), rtol=1e-12)
    # Four channels, and a constant channel has no spread.
    four = np.concatenate([images, np.full((17, 5, 4, 1), 9, np.uint8)], axis=-1)
    mean, std = channel_stats(four, chunk=7)
    assert mean[3] == 9.0 and std[3] == 0.0 and mean[:3] == histogram[0]


def test_validation_split_is_seeded():
    a = load_dataset("synthetic", validation_split=0.1, seed=1, max_train_examples=300)
    b = load_dataset("synthetic", validation_split=0.1, seed=1, max_train_examples=300)
    c = load_dataset("synthetic", validation_split=0.1, seed=2, max_train_examples=300)
    assert np.array_equal(a.arrays["validation"][0], b.arrays["validation"][0])
    assert not np.array_equal(a.arrays["validation"][0], c.arrays["validation"][0])


def test_tf_datasets_match_arrays():
    splits = load_dataset("synthetic", max_train_examples=50, max_test_examples=20)
    images, labels = next(iter(splits.train.batch(50)))
    assert images.dtype.name == "uint8" and labels.dtype.name == "int64"
    assert np.array_equal(images.numpy(), splits.arrays["train"][0])
    assert splits.validation is None and splits.validation_size == 0


# -- npz -----------------------------------------------------------------------


def test_npz_with_grayscale_and_column_labels(tmp_path):
    path = tmp_path / "data.npz"
    gray = random_images(10, size=16)[..., 0]
    np.savez(
        path,
        x_train=gray,
        y_train=np.arange(10).reshape(-1, 1) % 3,
        x_test=random_images(4, seed=1, size=16),
        y_test=np.array([0, 1, 2, 0]),
        class_names=np.array(["a", "b", "c"]),
    )
    splits = load_dataset(str(path))
    x, y = splits.arrays["train"]
    assert x.shape == (10, 16, 16, 3)
    assert np.array_equal(x[..., 1], gray) and y.dtype == np.int64
    assert splits.class_names == ("a", "b", "c")


def test_npz_labels_out_of_range(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(
        path,
        x_train=random_images(4),
        y_train=np.array([0, 1, 2, 7]),
        x_test=random_images(2),
        y_test=np.array([0, 1]),
        class_names=np.array(["a", "b", "c"]),
    )
    with pytest.raises(DataError, match=r"label 7 out of range \[0, 3\)"):
        load_dataset(str(path))


def test_npz_missing_keys(tmp_path):
    path = tmp_path / "partial.npz"
    np.savez(path, x_train=random_images(2), y_train=np.array([0, 1]))
    with pytest.raises(DataError, match="partial.npz lacks arrays"):
        load_dataset(str(path))


# -- image folders -------------------------------------------------------------


def _check_tree(splits, expected_val: int):
    assert splits.class_names == CLASSES
    x, y = splits.arrays["train"]
    assert x.shape == (18, 8, 8, 3) and y.tolist() == [0] * 6 + [1] * 6 + [2] * 6
    # Each image's pixel value encodes (class, index): labels follow folders.
    assert np.array_equal(x[:, 0, 0, 0], 40 * y + np.tile(np.arange(6), 3))
    assert splits.test_size == 9 and splits.validation_size == expected_val


def test_image_folder_tree_with_val(tmp_path):
    root = write_image_tree(tmp_path / "tree", splits=("train", "test", "val"))
    _check_tree(load_dataset(str(root)), expected_val=6)


def test_image_folder_tar_gz(tmp_path):
    root = write_image_tree(tmp_path / "tree")
    make_tar(root, tmp_path / "tree.tar.gz")
    splits = load_dataset(str(tmp_path / "tree.tar.gz"))
    _check_tree(splits, expected_val=0)
    # The second load comes from the decode cache and is identical.
    again = load_dataset(str(tmp_path / "tree.tar.gz"))
    assert np.array_equal(again.arrays["train"][0], splits.arrays["train"][0])


def test_folder_of_split_archives(tmp_path):
    root = write_image_tree(tmp_path / "tree")
    archives = tmp_path / "archives"
    archives.mkdir()
    make_tar(root / "train", archives / "train.tar.gz", arcname="train")
    make_tar(root / "test", archives / "test.tar.gz", arcname="test")
    _check_tree(load_dataset(str(archives)), expected_val=0)


def test_grayscale_and_rgba_images_become_rgb(tmp_path):
    root = write_image_tree(tmp_path / "tree")
    image = np.full((8, 8, 3), 90, dtype=np.uint8)
    write_image(root / "train" / "cat" / "gray.png", image, mode="L")
    write_image(root / "train" / "cat" / "alpha.png", image, mode="RGBA")
    x, _ = load_dataset(str(root)).arrays["train"]
    assert x.shape == (20, 8, 8, 3)
    assert np.all(x[6:8] == 90)  # sorted: alpha.png, gray.png after 00x.png


# -- official CIFAR ------------------------------------------------------------


def _expected(batches, names):
    x = np.concatenate([batches[n][0] for n in names])
    y = np.concatenate([batches[n][1] for n in names])
    return x, y


CIFAR10_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]


@pytest.mark.parametrize("writer", [write_cifar10_binary, write_cifar10_python])
@pytest.mark.parametrize("packed", [False, True])
def test_official_cifar10(tmp_path, writer, packed):
    top = (
        "cifar-10-batches-bin"
        if writer is write_cifar10_binary
        else "cifar-10-batches-py"
    )
    batches, names = writer(tmp_path / "release" / top)
    source = tmp_path / "release"
    if packed:
        make_tar(source / top, tmp_path / "cifar-10.tar.gz", arcname=top)
        source = tmp_path / "cifar-10.tar.gz"
    splits = load_dataset(str(source))
    x, y = _expected(batches, CIFAR10_TRAIN)
    assert np.array_equal(splits.arrays["train"][0], x)
    assert np.array_equal(splits.arrays["train"][1], y)
    assert np.array_equal(splits.arrays["test"][0], batches["test_batch"][0])
    assert splits.class_names == tuple(names)


@pytest.mark.parametrize("writer", [write_cifar100_binary, write_cifar100_python])
@pytest.mark.parametrize("packed", [False, True])
def test_official_cifar100(tmp_path, writer, packed):
    top = "cifar-100-binary" if writer is write_cifar100_binary else "cifar-100-python"
    batches, names = writer(tmp_path / top)
    source = tmp_path / top
    if packed:
        make_tar(source, tmp_path / "cifar-100.tar.gz", arcname=top)
        source = tmp_path / "cifar-100.tar.gz"
    splits = load_dataset(str(source))
    assert splits.num_classes == 100 and splits.class_names[3] == "fine3"
    assert np.array_equal(splits.arrays["train"][0], batches["train"][0])
    assert np.array_equal(splits.arrays["train"][1], batches["train"][1])
    assert np.array_equal(splits.arrays["test"][1], batches["test"][1])

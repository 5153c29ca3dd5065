"""The shared real CIFAR-10 JPEG copy, read straight from its archives."""

import numpy as np
import pytest

from keras_resnet.data.folders import decode_images, read_tar_entries

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


@pytest.mark.realdata
def test_shared_test_archive_reads_in_class_order(shared_cifar_dir):
    entries = read_tar_entries(shared_cifar_dir / "test.tar.gz")
    assert set(entries) == {"test"}
    assert tuple(sorted(entries["test"])) == CIFAR10_CLASSES
    assert all(len(files) == 1000 for files in entries["test"].values())
    sample = [sorted(entries["test"][name])[:30] for name in CIFAR10_CLASSES]
    images = decode_images([item for files in sample for item in files])
    assert images.shape == (300, 32, 32, 3) and images.dtype == np.uint8
    assert 60 < images.mean() < 190  # real photographs, not blank decodes


@pytest.mark.realdata
@pytest.mark.slow
def test_shared_copy_through_load_dataset(shared_cifar_dir):
    from keras_resnet.data import load_dataset

    splits = load_dataset(
        str(shared_cifar_dir), max_train_examples=500, max_test_examples=200
    )
    assert splits.class_names == CIFAR10_CLASSES
    assert (splits.train_size, splits.test_size) == (500, 200)
    assert np.bincount(splits.arrays["train"][1]).tolist() == [50] * 10
    assert np.bincount(splits.arrays["test"][1]).tolist() == [20] * 10
    # Close to the known CIFAR-10 training statistics (JPEG copy, subset).
    np.testing.assert_allclose(splits.mean, (125.3, 123.0, 113.9), atol=8)

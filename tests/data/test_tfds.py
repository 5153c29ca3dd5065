import numpy as np
import pytest

from keras_resnet.data import load_dataset
from keras_resnet.errors import DataError

tfds = pytest.importorskip("tensorflow_datasets")


@pytest.mark.parametrize(("name", "classes"), [("cifar10", 10), ("cifar100", 100)])
def test_tfds_source_through_mock_data(name, classes, tmp_path):
    with tfds.testing.mock_data(num_examples=24, data_dir=str(tmp_path)):
        splits = load_dataset(name, validation_split=0.25, data_dir=str(tmp_path))
    assert splits.num_classes == classes and len(splits.class_names) == classes
    assert splits.image_shape == (32, 32, 3)
    assert (splits.train_size, splits.validation_size, splits.test_size) == (18, 6, 24)
    x, y = splits.arrays["train"]
    assert x.dtype == np.uint8 and y.dtype == np.int64
    assert y.min() >= 0 and y.max() < classes


def test_tfds_without_network_or_local_copy(tmp_path):
    # This machine cannot download; the error says how to use a local copy.
    with pytest.raises(
        DataError, match="cannot download TFDS dataset 'cifar10'.*local copy"
    ):
        load_dataset("cifar10", data_dir=str(tmp_path))


def test_unknown_name_is_not_a_path_or_dataset():
    with pytest.raises(
        DataError, match="no such dataset path or TFDS dataset: 'nosuch_set'"
    ):
        load_dataset("nosuch_set")

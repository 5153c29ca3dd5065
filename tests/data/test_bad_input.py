"""Each bad input gives a one-line DataError naming the file or value."""

import pickle

import numpy as np
import pytest
from data_helpers import (
    make_tar,
    write_cifar10_binary,
    write_cifar10_python,
    write_image,
    write_image_tree,
)

from keras_resnet.data import load_dataset
from keras_resnet.errors import DataError


def _error(source) -> str:
    with pytest.raises(DataError) as info:
        load_dataset(str(source))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_path_not_found(tmp_path):
    assert f"dataset path not found: {tmp_path / 'missing.npz'}" in _error(
        tmp_path / "missing.npz"
    )


def test_truncated_archive(tmp_path):
    root = write_image_tree(tmp_path / "tree")
    make_tar(root, tmp_path / "tree.tar.gz")
    data = (tmp_path / "tree.tar.gz").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    assert "corrupt or truncated archive" in _error(tmp_path / "cut.tar.gz")
    assert "cut.tar.gz" in _error(tmp_path / "cut.tar.gz")


def test_image_that_fails_to_decode(tmp_path):
    root = write_image_tree(tmp_path / "tree")
    (root / "train" / "dog" / "broken.png").write_bytes(b"\x89PNG not really")
    message = _error(root)
    assert "cannot decode image" in message and "broken.png" in message


def test_train_and_test_classes_disagree(tmp_path):
    root = write_image_tree(tmp_path / "tree")
    write_image(root / "test" / "horse" / "0.png", np.zeros((8, 8, 3), np.uint8))
    message = _error(root)
    assert "class folders of train and test differ" in message and "horse" in message


def test_empty_class_folder(tmp_path):
    root = write_image_tree(tmp_path / "tree")
    (root / "train" / "owl").mkdir()
    (root / "test" / "owl").mkdir()
    assert "class folder train/owl" in _error(root) and "is empty" in _error(root)


def test_images_of_mixed_sizes(tmp_path):
    root = write_image_tree(tmp_path / "tree")
    write_image(root / "train" / "cat" / "big.png", np.zeros((12, 12, 3), np.uint8))
    message = _error(root)
    assert "big.png is 12x12" in message and "resize" in message


def test_cifar_label_out_of_range(tmp_path):
    write_cifar10_binary(tmp_path / "cifar-10-batches-bin")
    path = tmp_path / "cifar-10-batches-bin" / "test_batch.bin"
    data = bytearray(path.read_bytes())
    data[0] = 12
    path.write_bytes(bytes(data))
    assert "label 12 out of range [0, 10)" in _error(tmp_path)


def test_truncated_cifar_binary_batch(tmp_path):
    write_cifar10_binary(tmp_path / "cifar-10-batches-bin")
    path = tmp_path / "cifar-10-batches-bin" / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-100])
    assert "data_batch_3.bin" in _error(tmp_path)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_python_cifar_refuses_arbitrary_objects(tmp_path, capsys):
    write_cifar10_python(tmp_path / "cifar-10-batches-py")
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}, protocol=2))
    message = _error(tmp_path)
    assert "data_batch_2" in message and "refusing to load __builtin__.print" in message
    assert "pwned" not in capsys.readouterr().out


def test_npz_float_images_refused(tmp_path):
    path = tmp_path / "floats.npz"
    np.savez(
        path,
        x_train=np.random.rand(3, 4, 4, 3),
        y_train=np.zeros(3),
        x_test=np.random.rand(2, 4, 4, 3),
        y_test=np.zeros(2),
    )
    assert "floats.npz: x_train must hold uint8 pixels" in _error(path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"validation_split": 1.0}, "validation_split=1.0"),
        ({"max_train_examples": 0}, "max_train_examples=0"),
        ({"max_test_examples": 2.5}, "max_test_examples=2.5"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_dataset("synthetic", **kwargs)

"""Each bad input gives a one-line DataError naming the file or value."""

import pickle
import shutil
import zipfile

import numpy as np
import pytest
from data_helpers import (
    make_tar,
    write_cifar10_binary,
    write_cifar10_python,
    write_image,
    write_image_tree,
    write_npz,
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


# -- .npz arrays and labels (issue 13, item 10) --------------------------------


def test_npz_more_images_than_labels(tmp_path):
    path = write_npz(
        tmp_path / "d.npz",
        x_train=np.zeros((60, 8, 8, 3), np.uint8),
        y_train=np.arange(50) % 3,
    )
    assert (
        f"{path}: x_train has 60 images but y_train has 50 labels; they must match"
        == _error(path)
    )


def test_npz_train_and_test_image_sizes_differ(tmp_path):
    path = write_npz(tmp_path / "d.npz", x_test=np.zeros((3, 4, 4, 3), np.uint8))
    message = _error(path)
    assert f"{path}: x_train images are 8x8 but x_test images are 4x4" in message


def test_npz_label_far_beyond_the_classes(tmp_path):
    path = write_npz(tmp_path / "d.npz", y_train=np.array([0, 1, 2, 0, 1, 5000]))
    assert (
        f"{path}: the label 5000 in y_train implies 5001 classes, but y_train has "
        "examples of only 4 (none of class 3)" in _error(path)
    )


def test_npz_label_with_class_names_out_of_range(tmp_path):
    names = np.array(["a", "b", "c"])
    path = write_npz(
        tmp_path / "d.npz", y_test=np.array([0, 1, 5000]), class_names=names
    )
    assert "label 5000 out of range [0, 3)" in _error(path)


def test_npz_non_integer_float_labels(tmp_path):
    path = write_npz(tmp_path / "d.npz", y_train=np.array([0, 1, 2, 0, 1.5, 2]))
    assert f"{path}: y_train holds the non-integer label 1.5" in _error(path)


def test_npz_integral_float_labels_are_accepted(tmp_path):
    path = write_npz(tmp_path / "d.npz", y_train=np.array([0.0, 1, 2, 0, 1, 2]))
    splits = load_dataset(str(path))
    assert splits.arrays["train"][1].tolist() == [0, 1, 2, 0, 1, 2]
    assert splits.num_classes == 3


def test_npz_one_hot_labels_are_accepted(tmp_path):
    y = np.eye(4, dtype=np.float32)[[0, 1, 2, 0, 1, 2]]  # class 3 has no example
    path = write_npz(tmp_path / "d.npz", y_train=y, y_test=np.eye(4)[[0, 1, 3]])
    splits = load_dataset(str(path))
    assert splits.num_classes == 4
    assert splits.arrays["train"][1].tolist() == [0, 1, 2, 0, 1, 2]
    assert splits.arrays["test"][1].tolist() == [0, 1, 3]


def test_npz_two_dimensional_labels_that_are_not_one_hot(tmp_path):
    y = np.eye(3)[[0, 1, 2, 0, 1, 2]]
    y[4] = [0.2, 0.8, 0.0]
    path = write_npz(tmp_path / "d.npz", y_train=y)
    assert f"{path}: y_train has shape (6, 3) but row 4 is not one-hot" in _error(path)


def test_npz_with_a_crafted_huge_array_header(tmp_path):
    path = write_npz(tmp_path / "d.npz")
    crafted = tmp_path / "crafted.npz"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(crafted, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "x_train.npy":
                data = data.replace(b"(6, 8, 8, 3)", b"(10000000, 100000, 1)")
            target.writestr(info, data)
    assert "x_train claims shape (10000000, 100000, 1)" in _error(crafted)


def test_one_class_npz_is_refused(tmp_path):
    path = write_npz(
        tmp_path / "d.npz", y_train=np.zeros(6, int), y_test=np.zeros(3, int)
    )
    assert "d.npz has 1 class ['0']; a classifier needs at least two" in _error(path)


def test_one_class_training_split_is_refused(tmp_path):
    names = np.array(["a", "b"])
    path = write_npz(
        tmp_path / "d.npz",
        y_train=np.ones(6, int),
        y_test=np.array([0, 1, 0]),
        class_names=names,
    )
    message = _error(path)
    assert "every training example has label 1 ('b')" in message


def test_one_class_image_folder_is_refused(tmp_path):
    root = write_image_tree(tmp_path / "tree")
    for split in ("train", "test"):
        for name in ("dog", "frog"):
            shutil.rmtree(root / split / name)
    assert "has 1 class ['cat']; a classifier needs at least two" in _error(root)


# -- empty folders, crafted pickles (item 11) ----------------------------------


def test_empty_train_and_test_folders(tmp_path):
    (tmp_path / "tree" / "train").mkdir(parents=True)
    (tmp_path / "tree" / "test").mkdir()
    message = _error(tmp_path / "tree")
    assert f"no class folders in train/ of {tmp_path / 'tree'}" in message


def test_cifar_pickle_asking_for_a_huge_array(tmp_path):
    write_cifar10_python(tmp_path / "cifar-10-batches-py")
    path = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _HugeArray(), b"labels": [0]}, protocol=2))
    message = _error(tmp_path)
    assert "data_batch_1" in message
    assert "asks for 1,000,000,000,000 bytes, more than the" in message


class _HugeArray:
    def __reduce__(self):
        from numpy._core.multiarray import _reconstruct

        return (_reconstruct, (np.ndarray, (10**6, 10**6), b"B"))


def test_cifar_pickle_with_fewer_labels_than_images(tmp_path):
    write_cifar10_python(tmp_path / "cifar-10-batches-py")
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    batch = pickle.loads(path.read_bytes())
    batch[b"labels"] = batch[b"labels"][:-1]
    path.write_bytes(pickle.dumps(batch, protocol=2))
    assert "test_batch has 4 images but 3 labels" in _error(tmp_path)

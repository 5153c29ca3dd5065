"""Bad datasets through ``keras-resnet fit --dataset X``: one ``Error:`` line, exit 1.

Every case runs the real command (engine included) in this process with
click's runner; two representative ones also run in a fresh process.
"""

import pickle
import shutil

import numpy as np
import pytest
from cli_process import cli_calls
from click.testing import CliRunner
from data_helpers import write_cifar10_python, write_image_tree, write_npz
from test_bad_input import _HugeArray
from test_images import png_header_only

from keras_resnet.cli import cli

TINY = ("--epochs", "1", "--width-multiplier", "0.125", "--batch-size", "2", "-q")


def npz_more_images_than_labels(tmp):
    x = np.zeros((60, 8, 8, 3), np.uint8)
    path = write_npz(tmp / "d.npz", x_train=x, y_train=np.arange(50) % 3)
    return path, f"{path}: x_train has 60 images but y_train has 50 labels"


def npz_sizes_differ(tmp):
    path = write_npz(tmp / "d.npz", x_test=np.zeros((3, 4, 4, 3), np.uint8))
    return path, "x_train images are 8x8 but x_test images are 4x4"


def npz_label_5000(tmp):
    path = write_npz(tmp / "d.npz", y_train=np.array([0, 1, 2, 0, 1, 5000]))
    return path, "the label 5000 in y_train implies 5001 classes"


def npz_float_labels(tmp):
    path = write_npz(tmp / "d.npz", y_train=np.array([0, 1, 2.7, 0, 1, 2]))
    return path, "y_train holds the non-integer label 2.7"


def npz_bad_one_hot(tmp):
    y = np.eye(3)[[0, 1, 2, 0, 1, 2]]
    y[0] = [1, 1, 0]
    return write_npz(tmp / "d.npz", y_train=y), "row 0 is not one-hot"


def npz_one_class(tmp):
    path = write_npz(tmp / "d.npz", y_train=np.zeros(6, int), y_test=np.zeros(3, int))
    return path, "has 1 class ['0']; a classifier needs at least two classes"


def empty_folders(tmp):
    (tmp / "tree" / "train").mkdir(parents=True)
    (tmp / "tree" / "test").mkdir()
    return tmp / "tree", f"no class folders in train/ of {tmp / 'tree'}"


def one_class_folder(tmp):
    root = write_image_tree(tmp / "tree")
    for split in ("train", "test"):
        for name in ("dog", "frog"):
            shutil.rmtree(root / split / name)
    return root, "has 1 class ['cat']; a classifier needs at least two classes"


def huge_cifar_pickle(tmp):
    write_cifar10_python(tmp / "cifar-10-batches-py")
    batch = {b"data": _HugeArray(), b"labels": [0]}
    path = tmp / "cifar-10-batches-py" / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    return tmp, "data_batch_1: an array of shape (1000000, 1000000) asks for"


def bomb_png(tmp):
    root = write_image_tree(tmp / "tree")
    bomb = root / "train" / "cat" / "bomb.png"
    bomb.write_bytes(png_header_only(14000, 14000))
    return root, f"image {bomb} (196,000,000 pixels) is larger than"


CASES = [
    npz_more_images_than_labels,
    npz_sizes_differ,
    npz_label_5000,
    npz_float_labels,
    npz_bad_one_hot,
    npz_one_class,
    empty_folders,
    one_class_folder,
    huge_cifar_pickle,
    bomb_png,
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
def test_fit_on_a_bad_dataset_is_one_error_line(case, tmp_path):
    source, expected = case(tmp_path)
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(
        cli, ["fit", "resnet18", "--dataset", str(source), *TINY, "-o", str(run_dir)]
    )
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.output
    assert not run_dir.exists()  # a failed fit leaves no run directory


@pytest.mark.slow
def test_bad_datasets_in_a_fresh_process(tmp_path):
    # Two representative cases, one after the other in one new process
    # (each call's own exit status and stderr).
    sources = []
    for case in (npz_more_images_than_labels, bomb_png):
        (tmp_path / case.__name__).mkdir()
        sources.append(case(tmp_path / case.__name__))
    calls = [
        ["fit", "resnet18", "--dataset", source, *TINY, "-o", tmp_path / f"run{i}"]
        for i, (source, _) in enumerate(sources)
    ]
    results = cli_calls(*calls, cwd=tmp_path, env={"KERAS_RESNET_CACHE": "none"})
    for result, (_, expected) in zip(results, sources, strict=True):
        assert result.returncode == 1, result.stderr[-2000:]
        assert "Traceback" not in result.stderr
        errors = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
        assert len(errors) == 1 and expected in errors[0], result.stderr
    assert not (tmp_path / "run0").exists() and not (tmp_path / "run1").exists()

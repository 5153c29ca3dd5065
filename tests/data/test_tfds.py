import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_resnet.data import load_dataset
from keras_resnet.errors import DataError


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


CLI = pathlib.Path(__file__).resolve().parents[2] / "cli.py"

# A proxy on a closed local port: the download cannot start, on any machine,
# whether or not it has a network (nothing is ever downloaded by these tests).
DEAD_PROXY = {"HTTPS_PROXY": "http://127.0.0.1:1", "HTTP_PROXY": "http://127.0.0.1:1"}


@pytest.fixture
def dead_proxy(monkeypatch):
    for name, value in DEAD_PROXY.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KERAS_RESNET_OFFLINE", raising=False)


def test_tfds_without_network_fails_fast(tmp_path, dead_proxy):
    started = time.monotonic()
    with pytest.raises(DataError) as info:
        load_dataset("cifar10", data_dir=str(tmp_path))
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        "cannot download TFDS dataset 'cifar10' (no network: cannot connect to "
        "proxy 127.0.0.1:1) and it is not prepared in "
    )
    assert (
        str(tmp_path) in message and "pass a local copy with --dataset PATH" in message
    )


def test_offline_switch_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_RESNET_OFFLINE", "1")
    with pytest.raises(DataError, match="'cifar10' \\(KERAS_RESNET_OFFLINE is set\\)"):
        load_dataset("cifar10", data_dir=str(tmp_path))


def test_offline_cli_fit_fails_in_seconds_with_one_line(tmp_path):
    # The README's default dataset on a machine that cannot download it.
    env = {
        **os.environ,
        **DEAD_PROXY,
        "TFDS_DATA_DIR": str(tmp_path / "tfds"),
        "KERAS_RESNET_CACHE": "none",
    }
    env.pop("KERAS_RESNET_OFFLINE", None)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(CLI), "fit", "resnet18", "--epochs", "1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr[-2000:]
    assert elapsed < 60
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        f"Error: cannot download TFDS dataset 'cifar10' (no network: cannot connect "
        f"to proxy 127.0.0.1:1) and it is not prepared in "
        f"{tmp_path / 'tfds' / 'cifar10' / '3.0.2'}; pass a local copy with "
        "--dataset PATH: the official CIFAR .tar.gz or its folder, an image-folder "
        "tree (train/<class>/, test/<class>/) or its .tar.gz, or an .npz with "
        "x_train, y_train, x_test, y_test"
    ]
    # No retry warnings from TFDS or absl.
    assert "absl" not in result.stderr and "retry" not in result.stderr.lower()


def test_unknown_name_is_not_a_path_or_dataset():
    with pytest.raises(
        DataError, match="no such dataset path or TFDS dataset: 'nosuch_set'"
    ):
        load_dataset("nosuch_set")

"""Bad options, model files and images given to ``keras-resnet``.

Every case checks the exit code (2 for a bad option, 1 for a bad file or
dataset), exactly one ``Error:`` line naming the value or file, no traceback,
and that nothing was written. One case per command runs ``python cli.py ...``
in a fresh process as a user would (where the command answers before Keras
starts, with Keras, TensorFlow and JAX unimportable, which proves it); the
others run the same command in this process (click's ``CliRunner``), where
the answer is the same and no Keras start-up is paid again.
"""

import pathlib
import struct
import subprocess
import zipfile
import zlib

import numpy as np
import pytest
from cli_process import keras_resnet
from click.testing import CliRunner
from import_blocker import blocked_python
from PIL import Image

from keras_resnet.cli import cli

REPO = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def in_process(*args, cwd, monkeypatch) -> subprocess.CompletedProcess:
    """``keras-resnet ARGS`` run by click in this process, from ``cwd``."""
    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(cli, [str(arg) for arg in args])
    if not isinstance(result.exception, SystemExit | None):
        raise result.exception  # a traceback the user would see
    return subprocess.CompletedProcess(
        args, result.exit_code, result.stdout, result.stderr
    )


def error_line(done, exit_code):
    """The one ``Error:`` line of a failed command (checked to be alone)."""
    assert done.returncode == exit_code, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, done.stderr
    if exit_code == 1:  # a run-time error prints nothing else to stderr
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert lines == errors, done.stderr
    return errors[0]


@pytest.fixture(scope="module")
def three_class_model(tmp_path_factory):
    """A tiny 3-class plain-Keras classifier file (not in a run directory)."""
    import keras

    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    path = tmp_path_factory.mktemp("model") / "three.keras"
    model.save(path)
    return path


def two_class_folder(root):
    """An image-folder dataset with the classes cat and dog."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in ("cat", "dog"):
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(2):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{index}.png")
    return root


def png_header(path, width, height):
    """A PNG that declares ``width x height`` RGB pixels (and holds none)."""

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )
    return path


# -- options: exit 2, nothing created ---------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--model-option", "nosuchkw=3"],
            "Error: Invalid value for '--model-option': Model 'resnet18' has no "
            "argument 'nosuchkw'; it accepts: classifier_activation, include_top,",
        ),
        (
            ["--width-multiplier", "nan"],
            "Error: Invalid value for '--width-multiplier': 'nan' is not a finite "
            "number.",
        ),
        (
            ["--width-multiplier", "inf"],
            "Error: Invalid value for '--width-multiplier': 'inf' is not a finite "
            "number.",
        ),
        (
            ["--width-multiplier", "0"],
            "Error: Invalid value for '--width-multiplier': 0.0 is not in the range "
            "x>0.",
        ),
        (
            ["--width-multiplier", "1000"],
            "Error: Invalid value for '--width-multiplier': must be at most 16 "
            "(parameters grow with its square; resnet18 at 16 has 2.9G parameters).",
        ),
        (
            ["--learning-rate", "nan"],
            "Error: Invalid value for '--learning-rate' / '--lr': 'nan' is not a "
            "finite number.",
        ),
    ],
)
def test_bad_fit_option_exits_2_naming_it(tmp_path, monkeypatch, args, expected):
    done = in_process(
        "fit", "resnet18", "--dataset", "synthetic", *args, "-o", "run",
        cwd=tmp_path, monkeypatch=monkeypatch,
    )  # fmt: skip
    assert error_line(done, 2).startswith(expected)
    assert list(tmp_path.iterdir()) == []


def without_keras(*args, cwd) -> subprocess.CompletedProcess:
    """``python cli.py ARGS`` in a new process where Keras, TensorFlow and JAX
    cannot be imported: for errors the command finds before they load."""
    argv = ["cli.py", *map(str, args)]
    code = f"import runpy, sys; sys.argv = {argv!r}; "
    code += f"runpy.run_path({str(REPO / 'cli.py')!r}, run_name='__main__')"
    return blocked_python(code, "keras", "tensorflow", "jax", cwd=cwd)


def test_bad_fit_option_in_a_fresh_process(tmp_path):
    # A built-in model's arguments are checked from the catalog, before Keras.
    done = without_keras(
        "fit", "resnet18", "--dataset", "synthetic", "--model-option", "nosuchkw=3",
        "-o", "run", cwd=tmp_path,
    )  # fmt: skip
    assert error_line(done, 2).startswith(
        "Error: Invalid value for '--model-option': Model 'resnet18' has no "
        "argument 'nosuchkw'; it accepts: classifier_activation, include_top,"
    )
    skip = without_keras("fit", "densenet121", "--no-skip", "-o", "run", cwd=tmp_path)
    assert "model 'densenet121' has no skip connections to switch" in error_line(
        skip, 2
    )
    assert list(tmp_path.iterdir()) == []


# -- model files: exit 1, one line naming the file ------------------------------------


def test_evaluate_zip_without_config_json(tmp_path, monkeypatch):
    with zipfile.ZipFile(tmp_path / "model.keras", "w") as archive:
        archive.writestr("metadata.json", "{}")
    done = in_process(
        "evaluate", "model.keras", "--dataset", "synthetic",
        cwd=tmp_path, monkeypatch=monkeypatch,
    )  # fmt: skip
    assert error_line(done, 1) == (
        "Error: Cannot load model.keras: not a Keras model file (the zip archive "
        "has no config.json)"
    )


def test_evaluate_truncated_keras_file(three_class_model, tmp_path):
    data = three_class_model.read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    done = keras_resnet("evaluate", "cut.keras", "--dataset", "synthetic", cwd=tmp_path)
    line = error_line(done, 1)
    assert line == (
        "Error: Cannot load cut.keras: not a Keras model file (not a complete zip "
        f"archive; {len(data) // 2} bytes, truncated or corrupt?)"
    )
    assert "not found" not in line.lower()


def test_evaluate_on_a_dataset_with_other_classes(
    three_class_model, tmp_path, monkeypatch
):
    two_class_folder(tmp_path / "pets")
    done = in_process(
        "evaluate", three_class_model, "--dataset", "pets",
        cwd=tmp_path, monkeypatch=monkeypatch,
    )  # fmt: skip
    assert error_line(done, 1) == (
        "Error: The model has 3 classes but the dataset pets has 2; evaluate on a "
        "dataset with the classes the model was trained on"
    )


# -- images for predict --------------------------------------------------------------


def test_predict_decompression_bomb_names_the_file(three_class_model, tmp_path):
    png_header(tmp_path / "huge.png", 14000, 14000)
    Image.new("RGB", (8, 8)).save(tmp_path / "fine.png")
    # The images are read (and refused) before the model loads.
    done = without_keras(
        "predict", three_class_model, "fine.png", "huge.png", cwd=tmp_path
    )
    line = error_line(done, 1)
    assert line.startswith("Error: image huge.png ")
    assert "decompression bombs" in line
    assert done.stdout == ""


def test_predict_unreadable_image_names_the_file(
    three_class_model, tmp_path, monkeypatch
):
    (tmp_path / "notes.png").write_text("not an image")
    done = in_process(
        "predict", three_class_model, "notes.png", cwd=tmp_path, monkeypatch=monkeypatch
    )
    assert error_line(done, 1).startswith("Error: cannot decode image notes.png")

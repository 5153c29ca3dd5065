"""Progress lines, evaluation output and CLI wording."""

import io
import json
import logging
import pathlib
import tarfile
import time

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from keras_resnet.cli import cli, cli_message
from keras_resnet.cli.evaluate import evaluation_report, format_confusion
from keras_resnet.cli.fit import start_line
from keras_resnet.cli.output import format_duration, plural
from keras_resnet.cli.progress import (
    elapsed_display,
    epoch_estimate,
    epoch_line,
    epoch_progress,
    library_progress,
)
from keras_resnet.data.folders import load_image_folders
from keras_resnet.train.config import TrainConfig
from keras_resnet.train.evaluate import summarize, top_k_accuracy

# -- one plain line per epoch ------------------------------------------------------


def test_epoch_line_has_metrics_and_time_left_without_per_layer_values():
    logs = {"loss": 1.5, "accuracy": np.float32(0.5), "grad_norm/fc": 0.1}
    line = epoch_line("[2/4 resnet18] ", 2, 10, [30.0, 10.0], logs)
    assert line == (
        "[2/4 resnet18] epoch 2/10 - 10.0s - loss 1.5000 - accuracy 0.5000 "
        "- 1m20s left"  # the first epoch (tracing) is left out of the estimate
    )
    assert " left" not in epoch_line("", 10, 10, [1.0] * 10, logs)


@pytest.mark.parametrize(
    "seconds, expected",
    [
        ([30.0], 30.0),  # only the first epoch so far
        ([30.0, 10.0], 10.0),  # then the first is left out
        ([30.0, 10.0, 12.0], 11.0),
        # a stalled epoch (a paused run) does not count for the rest
        ([30.0, 10.0, 10.0, 600.0, 10.0], 10.0),
        # the last 5 epochs after the first: a lasting slow-down shows
        ([30.0, 10.0, 10.0, 10.0, 20.0, 20.0, 20.0], 20.0),
    ],
)
def test_time_left_follows_the_median_of_recent_epochs(seconds, expected):
    assert epoch_estimate(seconds) == expected
    line = epoch_line("", len(seconds), len(seconds) + 6, seconds, {})
    assert line.endswith(f" - {format_duration(6 * expected)} left")


@pytest.mark.parametrize(
    "verbose, given, plain, keras_verbose",
    [
        (1, False, True, 0),  # default, not a terminal: one line per epoch
        (1, True, False, 1),  # a bar asked for explicitly
        (2, True, True, 0),  # a line per epoch: ours, with the time left
        (0, True, False, 0),
    ],
)
def test_epoch_progress_outside_a_terminal(verbose, given, plain, keras_verbose):
    config, callbacks = epoch_progress(
        TrainConfig(verbose=verbose), verbose_given=given
    )
    assert config.verbose == keras_verbose
    assert [type(c).__name__ for c in callbacks] == (["EpochLine"] if plain else [])


def test_start_line_says_1_epoch():
    config = TrainConfig(epochs=1, output_dir="runs/x")
    assert "| 1 epoch, batch 128 |" in start_line(config, 10, None)
    assert plural(3, "epoch") == "3 epochs" and plural(1, "image") == "1 image"


# -- exports and data decoding ------------------------------------------------------


def test_elapsed_display_rewrites_one_line_and_erases_it():
    stream = io.StringIO()
    with elapsed_display("Exporting x as keras...", stream=stream, interval=0.05):
        time.sleep(0.12)
    text = stream.getvalue()
    assert text.startswith("\rExporting x as keras... 0.0s")
    assert text.count("\rExporting") >= 2 and "\n" not in text and "\x1b" not in text
    assert text.endswith("\r" + " " * len("Exporting x as keras... 0.0s") + "\r")


def test_elapsed_display_is_silent_when_stderr_is_not_a_terminal(capfd):
    with elapsed_display("Exporting..."):
        pass
    assert capfd.readouterr().err == ""


@pytest.fixture
def image_archive(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_RESNET_CACHE", str(tmp_path / "cache"))
    tree = tmp_path / "tree"
    # More than one decode chunk (512 images) in train: worth reporting.
    for split, count in (("train", 300), ("test", 2)):
        for name in ("cat", "dog"):
            folder = tree / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                Image.new("RGB", (8, 8), (index * 40, 0, 0)).save(
                    folder / f"{index}.png"
                )
    archive = tmp_path / "pets.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname=".")
    return archive


def test_first_decode_of_an_archive_reports_progress(image_archive, caplog):
    caplog.set_level(logging.INFO, logger="keras_resnet")
    load_image_folders(image_archive)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == (
        f"Reading {image_archive} (decoded once, then read from the cache)"
    )
    assert messages[1].startswith("Decoding pets.tar.gz train: 512/600 images, ")
    assert messages[1].endswith("s left")
    assert messages[2:] == ["Decoding pets.tar.gz train: 600/600 images"]
    caplog.clear()
    load_image_folders(image_archive)  # from the cache: nothing to report
    assert caplog.records == []


def test_library_progress_goes_to_stderr_while_a_command_runs(capsys):
    logger = logging.getLogger("keras_resnet.data.folders")
    with library_progress():
        logger.info("Decoding x: 1/2 images")
    logger.info("after the command: not shown")
    assert capsys.readouterr().err == "Decoding x: 1/2 images\n"


# -- compare: which model, how many -------------------------------------------------


def test_compare_names_each_model_and_its_place(tmp_path, monkeypatch):
    import keras_resnet.study.comparison as comparison

    trained = []

    def train(config, *, resume, overwrite, callbacks):
        trained.append([getattr(c, "prefix", None) for c in callbacks])
        raise KeyboardInterrupt  # stop after the first model: enough here

    monkeypatch.setattr(comparison, "_train", train)
    result = CliRunner().invoke(
        cli,
        ["compare", "--models", "mini_resnet,resnet18", "--dataset", "synthetic",
         "--epochs", "1", "--output", str(tmp_path / "s")],
    )  # fmt: skip
    assert result.exit_code == 130, result.output
    assert "model 1/2: mini_resnet (training 1 epoch)" in result.output
    assert trained == [["[1/2 mini_resnet] "]]


# -- evaluate -----------------------------------------------------------------------


def test_top5_accuracy_only_above_10_classes():
    rng = np.random.default_rng(0)
    probabilities = rng.random((200, 12))
    labels = rng.integers(0, 12, 200)
    top5 = np.argsort(-probabilities, axis=1)[:, :5]
    expected = float(
        np.mean([label in row for label, row in zip(labels, top5, strict=True)])
    )
    result = summarize(probabilities, labels, [str(i) for i in range(12)])
    assert result["top5_accuracy"] == pytest.approx(expected)
    assert top_k_accuracy(probabilities, labels, 1) == result["accuracy"]
    ten = summarize(probabilities[:, :10], labels % 10, list("abcdefghij"))
    assert ten["top5_accuracy"] is None


def test_evaluation_report_and_terminal_output_with_many_classes():
    names = [f"class{i}" for i in range(30)]
    matrix = np.eye(30, dtype=int) * 5
    matrix[3, 7] = 4
    matrix[1, 2] = 1
    result = {
        "accuracy": 0.9,
        "top5_accuracy": 0.99,
        "loss": 0.3,
        "num_examples": 155,
        "class_names": names,
        "per_class_accuracy": {
            n: float("nan") if n == "class9" else 1.0 for n in names
        },
        "confusion_matrix": matrix.tolist(),
    }
    report = evaluation_report(result)
    assert json.loads(json.dumps(report)) == report  # no NaN in the JSON
    assert report["per_class_accuracy"]["class9"] is None
    assert report["top5_accuracy"] == 0.99
    assert report["confusion_matrix"][3][7] == 4
    # 30 columns do not fit 80: the largest confusions instead.
    assert format_confusion(names, report["confusion_matrix"], 80).splitlines() == [
        "Most frequent confusions (30 classes; --json has the whole matrix):",
        "  class3 -> class7: 4 images",
        "  class1 -> class2: 1 image",
    ]


def test_evaluate_prints_top5_and_the_matrix(monkeypatch, tmp_path):
    import keras_resnet.train

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 11, 40)
    result = summarize(rng.random((40, 11)), labels, [f"c{i}" for i in range(11)])
    monkeypatch.setattr(keras_resnet.train, "evaluate", lambda *a, **k: result)
    output = CliRunner().invoke(cli, ["evaluate", str(tmp_path)]).output
    assert f"  top-5 {result['top5_accuracy']:.4f}  loss" in output
    matrix_lines = output.split("columns: predicted):\n")[1].splitlines()
    assert matrix_lines[0].split() == [str(i) for i in range(11)]
    assert matrix_lines[11].split() == [
        "10", "c10", *(str(v) for v in result["confusion_matrix"][10])
    ]  # fmt: skip


# -- wording --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "library, command_line",
    [
        (
            "x holds a completed run; pass overwrite=True (--overwrite) to replace it",
            "x holds a completed run; pass --overwrite to replace it",
        ),
        (
            "pass resume=True (--resume) to continue it or overwrite=True "
            "(--overwrite) to start over",
            "pass --resume to continue it or --overwrite to start over",
        ),
        ("not empty: out (pass overwrite=True / --overwrite)", "not empty: out (pass --overwrite)"),
        ("a completed run of 1 epochs; nothing", "a completed run of 1 epoch; nothing"),
        ("after 1 completed epoch(s); resume", "after 1 completed epoch; resume"),
        ("after 3 completed epoch(s)", "after 3 completed epochs"),
        ("a run of 11 epochs", "a run of 11 epochs"),
    ],
)  # fmt: skip
def test_cli_message_speaks_command_line(library, command_line):
    assert cli_message(library) == command_line


def test_library_errors_reach_the_user_in_command_line_words(monkeypatch, tmp_path):
    import keras_resnet.train
    from keras_resnet.errors import RunDirectoryError

    def train(config, **kwargs):
        raise RunDirectoryError(
            f"{config.output_dir} holds a completed run; pass overwrite=True "
            "(--overwrite) to replace it or choose another output directory"
        )

    monkeypatch.setattr(keras_resnet.train, "train", train, raising=False)
    out = pathlib.Path(tmp_path / "run")
    result = CliRunner().invoke(cli, ["fit", "mini_resnet", "-o", str(out), "-q"])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {out} holds a completed run; pass --overwrite to replace it or "
        "choose another output directory\n"
    )

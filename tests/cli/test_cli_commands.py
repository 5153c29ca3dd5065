"""The keras-resnet group and its commands, with the library calls faked where
they would train (the real end-to-end runs are in test_cli_end_to_end.py)."""

import json
import os
import pathlib
import subprocess
import sys
import types

import click
import keras
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import keras_resnet
import keras_resnet.train
from keras_resnet.cli import COMMANDS, LazyGroup, cli
from keras_resnet.cli.fit import start_line, summary
from keras_resnet.cli.output import format_count, format_duration, format_table
from keras_resnet.errors import RunDirectoryError, TrainingInterrupted
from keras_resnet.models import count_trainable_params
from keras_resnet.train.config import TrainConfig

REPO = pathlib.Path(__file__).resolve().parents[2]


def run(*args, **kwargs):
    return CliRunner().invoke(cli, [str(arg) for arg in args], **kwargs)


def fake_result(run_dir, val_accuracy=(0.5, 0.7, 0.6)):
    return types.SimpleNamespace(
        run_dir=pathlib.Path(run_dir),
        history={"val_accuracy": list(val_accuracy)},
        metrics={
            "total_seconds": 75.0,
            "best_val_accuracy": max(val_accuracy, default=0.0),
            "best_epoch": 2,
            "test_accuracy": 0.65,
            "test_loss": 1.25,
        },
    )


@pytest.fixture
def fake_train(monkeypatch):
    """Replaces keras_resnet.train.train; records each call."""
    calls = []

    def train(config, *, resume=False, overwrite=False, callbacks=None):
        calls.append(dict(config=config, resume=resume, overwrite=overwrite))
        calls[-1]["callbacks"] = callbacks
        return fake_result(config.output_dir)

    monkeypatch.setattr(keras_resnet.train, "train", train, raising=False)
    return calls


# -- the group -----------------------------------------------------------------


def test_version_names_package_keras_and_backend():
    result = run("--version")
    assert result.exit_code == 0
    assert result.output.startswith(f"keras-resnet {keras_resnet.__version__} ")
    assert f"backend {keras.backend.backend()}" in result.output


def test_help_lists_every_command_with_examples():
    result = run("--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.output
    assert "keras-resnet fit resnet18 --epochs 100" in result.output


@pytest.mark.parametrize("name", ["fit", "evaluate", "predict", "models"])
def test_each_command_help_has_examples(name):
    result = run(name, "--help")
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.output
    assert f"keras-resnet {name}" in result.output


def test_missing_command_module_does_not_break_the_others():
    group = LazyGroup(
        name="demo",
        lazy_commands={
            "models": COMMANDS["models"],
            "ghost": ("keras_resnet.cli.no_such_module:ghost", "Not written yet."),
        },
    )
    runner = CliRunner()
    listing = runner.invoke(group, ["--help"])
    assert listing.exit_code == 0
    assert "ghost" in listing.output and "models" in listing.output
    assert runner.invoke(group, ["models", "--help"]).exit_code == 0
    ghost = runner.invoke(group, ["ghost"])
    assert ghost.exit_code == 1
    assert "not available" in ghost.output


def test_unknown_command_is_a_usage_error():
    result = run("fitt")
    assert result.exit_code == 2
    assert "No such command 'fitt'" in result.output


# -- run-time errors: one line, exit 1, traceback only with --debug ------------


def raising_train(error):
    def train(config, **kwargs):
        raise error

    return train


@pytest.mark.parametrize(
    "error, code",
    [
        (ValueError("epochs must be positive. Received: epochs=0"), 1),
        (RunDirectoryError("runs/x already holds a completed run"), 1),
        (TrainingInterrupted("Interrupted; resume with --resume"), 130),
    ],
)
def test_runtime_errors_print_one_line(monkeypatch, error, code):
    monkeypatch.setattr(
        keras_resnet.train, "train", raising_train(error), raising=False
    )
    result = run("fit", "resnet18", "-o", "runs/x", "--quiet")
    assert result.exit_code == code
    assert result.output.strip().splitlines() == [f"Error: {error}"]
    assert "Traceback" not in result.output


def test_interrupt_names_the_command_that_continues(monkeypatch):
    error = TrainingInterrupted(
        "training interrupted after 2 completed epoch(s), saved in runs/x; "
        "continue with resume=True",
        run_dir="runs/x",
        completed_epochs=2,
    )
    monkeypatch.setattr(
        keras_resnet.train, "train", raising_train(error), raising=False
    )
    result = run("fit", "resnet18", "-o", "runs/x", "--quiet")
    assert result.exit_code == 130
    assert result.output.strip().splitlines() == [
        "Error: training interrupted after 2 completed epochs, saved in runs/x; "
        "continue with: keras-resnet fit --resume --output-dir runs/x"
    ]


def test_debug_shows_the_traceback(monkeypatch):
    error = RunDirectoryError("runs/x already holds a completed run")
    monkeypatch.setattr(
        keras_resnet.train, "train", raising_train(error), raising=False
    )
    result = run("--debug", "fit", "resnet18", "-o", "runs/x", "--quiet")
    assert result.exit_code == 1
    assert result.exception is error  # re-raised, so Python prints the traceback


def test_unloadable_model_is_one_line_without_debug(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_text("not a zip")
    image = write_image(tmp_path / "red.png", (255, 0, 0))
    result = run("predict", bad, image)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: Cannot load {bad}")
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_debug_traceback_in_a_real_process(tmp_path):
    # An image that does not decode: predict refuses it before loading the
    # model (so before Keras starts); with --debug as a Python traceback
    # ending in the library's error, without it as one line.
    (tmp_path / "notes.png").write_text("not an image")
    model = tmp_path / "model.keras"
    model.write_text("never loaded")
    command = [sys.executable, str(REPO / "cli.py"), "predict", model, "notes.png"]
    plain = subprocess.run(
        command, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    command.insert(2, "--debug")
    debug = subprocess.run(
        command, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert plain.returncode == debug.returncode == 1
    assert plain.stderr.startswith("Error: cannot decode image notes.png")
    assert "Traceback" not in plain.stderr
    assert debug.stderr.startswith("Traceback (most recent call last):")
    last = debug.stderr.strip().splitlines()[-1]
    assert last.startswith("keras_resnet.errors.DataError: cannot decode image")


# -- fit -------------------------------------------------------------------------


def test_fit_passes_the_resolved_config(fake_train, tmp_path):
    out = tmp_path / "run"
    result = run(
        "fit", "mini_resnet", "--epochs", 2, "--dataset", "synthetic", "-o", out,
        "--model-option", "blocks_per_stage=1", "--resume", "--overwrite", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (call,) = fake_train
    assert call["config"] == TrainConfig(
        model="mini_resnet",
        epochs=2,
        dataset="synthetic",
        output_dir=str(out),
        model_options={"blocks_per_stage": 1},
        verbose=0,  # --quiet
    )
    assert call["resume"] is True and call["overwrite"] is True
    assert call["callbacks"] == []  # no start line when quiet


def test_fit_config_file_fills_and_option_overrides(fake_train, tmp_path):
    config = tmp_path / "recipe.yaml"
    config.write_text("model: mini_resnet\nepochs: 100\nbatch_size: 64\n")
    result = run("fit", "--config", config, "--epochs", 3, "-o", tmp_path / "r")
    assert result.exit_code == 0, result.output
    built = fake_train[0]["config"]
    assert (built.model, built.epochs, built.batch_size) == ("mini_resnet", 3, 64)
    # Not a terminal: Keras is silent and a plain line per epoch replaces its bar.
    assert built.verbose == 0
    assert len(fake_train[0]["callbacks"]) == 2  # the start line, the epoch line


def test_fit_default_output_dir_follows_the_run_dir_layout(fake_train):
    with CliRunner().isolated_filesystem():
        assert run("fit", "resnet18", "-q").exit_code == 0
    output_dir = pathlib.Path(fake_train[0]["config"].output_dir)
    assert output_dir.parent == pathlib.Path("runs")
    assert output_dir.name.startswith("resnet18-") and len(output_dir.name) == 24


def test_fit_prints_one_summary(fake_train, tmp_path):
    result = run("fit", "resnet18", "-o", tmp_path / "r", "--quiet")
    assert result.output.splitlines() == [
        "Finished resnet18 in 1m15s",
        "  validation accuracy: best 0.7000 (epoch 2), final 0.6000",
        "  test accuracy: 0.6500 (loss 1.2500)",
        f"  outputs: {tmp_path / 'r'}",
    ]


def test_summary_without_validation():
    config = TrainConfig(validation_split=0.0, output_dir="r")
    text = summary(config, fake_result("r", val_accuracy=()))
    assert "validation accuracy: none" in text


def test_start_line_names_model_params_sizes_device_precision():
    config = TrainConfig(model="resnet18", dataset="synthetic", output_dir="r")
    sizes = {"train_size": 45000, "validation_size": 5000, "test_size": 10000}
    line = start_line(config, 11_173_962, sizes)
    assert line.startswith("Training resnet18 (11.17M parameters) on synthetic ")
    assert "45,000 train, 5,000 validation, 10,000 test" in line
    assert "| cpu |" in line and "| float32 |" in line


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["fit", "resnet19"], "'resnet19' is not one of"),
        (["fit", "resnet18", "--epochs", "0"], "--epochs"),
        (["fit", "resnet18", "--epochs", "-3"], "--epochs"),
        (["fit", "resnet18", "--batch-size", "0"], "--batch-size"),
        (["fit", "resnet18", "--config", "no/such.yaml"], "does not exist"),
        (["fit"], "Missing argument 'MODEL'"),
        (["fit", "resnet18", "--resume"], "--resume needs --output-dir"),
        (["fit", "baseline_cnn", "--no-skip"], "has no skip connections"),
        (["evaluate", "no/such/run"], "does not exist"),
        (["predict", "no/such/run", "x.png"], "does not exist"),
    ],
)
def test_usage_errors_exit_2(fake_train, args, fragment):
    result = run(*args)
    assert result.exit_code == 2
    assert fragment in result.output
    assert fake_train == []


def test_unknown_model_lists_the_choices(fake_train):
    result = run("fit", "resnet19")
    for name in keras_resnet.list_models():
        assert name in result.output


def test_unknown_config_key_exits_2_naming_key_and_file(fake_train, tmp_path):
    config = tmp_path / "typo.yaml"
    config.write_text("epochz: 3\n")
    result = run("fit", "resnet18", "--config", config)
    assert result.exit_code == 2
    assert "'epochz'" in result.output and "typo.yaml" in result.output


# -- evaluate --------------------------------------------------------------------


@pytest.fixture
def fake_evaluate(monkeypatch):
    calls = []

    def evaluate(
        path_or_model, *, dataset=None, split="test", batch_size=256, weights=None
    ):
        calls.append((path_or_model, dataset, split, batch_size))
        assert weights is None
        return {
            "accuracy": 0.75,
            "top5_accuracy": None,
            "loss": 0.5,
            "num_examples": 4,
            "class_names": ["cat", "dog"],
            "per_class_accuracy": {"cat": 1.0, "dog": 0.5},
            "confusion_matrix": [[2, 0], [1, 1]],
        }

    monkeypatch.setattr(keras_resnet.train, "evaluate", evaluate, raising=False)
    return calls


def test_evaluate_prints_accuracy_loss_and_classes(fake_evaluate, tmp_path):
    result = run("evaluate", tmp_path, "--dataset", "synthetic", "--split", "train")
    assert result.exit_code == 0, result.output
    assert fake_evaluate == [(str(tmp_path), "synthetic", "train", 256)]
    lines = result.output.splitlines()
    assert lines[0] == f"{tmp_path} on the train split (4 images):"
    assert lines[1] == "  accuracy 0.7500  loss 0.5000"
    assert lines[5:7] == ["cat      1.0000", "dog      0.5000"]
    assert lines[-3:] == ["      0 1", "0 cat 2 0", "1 dog 1 1"]


def test_evaluate_json(fake_evaluate, tmp_path):
    result = run("evaluate", tmp_path, "--json")
    assert json.loads(result.output) == {
        "accuracy": 0.75,
        "loss": 0.5,
        "num_examples": 4,
        "per_class_accuracy": {"cat": 1.0, "dog": 0.5},
        "class_names": ["cat", "dog"],
        "confusion_matrix": [[2, 0], [1, 1]],
    }


def test_evaluate_bad_split_is_a_usage_error(fake_evaluate, tmp_path):
    assert run("evaluate", tmp_path, "--split", "dev").exit_code == 2


# -- predict ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory):
    """A run dir whose classifier picks the dominant colour channel."""
    run_dir = tmp_path_factory.mktemp("colour_run")
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(3, activation="softmax")
    model = keras.Model(inputs, dense(x))
    dense.set_weights([np.eye(3, dtype="float32") * 10, np.zeros(3, "float32")])
    model.save(run_dir / "model.keras")
    names = {"class_names": ["red", "green", "blue"]}
    (run_dir / "dataset.json").write_text(json.dumps(names))
    return run_dir


def write_image(path, colour, size=(20, 12)):
    Image.new("RGB", size, colour).save(path)
    return path


def test_predict_top_k(colour_model, tmp_path):
    red = write_image(tmp_path / "red.png", (255, 0, 0))
    blue = write_image(tmp_path / "blue.jpg", (0, 0, 250), size=(40, 40))
    result = run("predict", colour_model, red, blue, "--top-k", 2)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == str(red) and lines[1].endswith("  red")
    assert lines[3] == str(blue) and lines[4].endswith("  blue")
    assert len(lines) == 6  # two images x (name + 2 classes)


def test_predict_json_probabilities(colour_model, tmp_path):
    green = write_image(tmp_path / "green.png", (0, 255, 0))
    result = run("predict", colour_model, green, "--json", "-k", 5)
    (classes,) = json.loads(result.output).values()
    assert [entry["class"] for entry in classes][0] == "green"
    assert len(classes) == 3  # k is capped by the number of classes
    probabilities = [entry["probability"] for entry in classes]
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)


def test_predict_unreadable_image_is_one_line_error(colour_model, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    result = run("predict", colour_model, bad)
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: cannot decode image {bad}")


def test_predict_needs_an_image(colour_model):
    result = run("predict", colour_model)
    assert result.exit_code == 2
    assert "Missing argument 'IMAGES...'" in result.output


# -- models ----------------------------------------------------------------------


def test_models_table_has_every_model_with_real_counts():
    result = run("models", "mini_resnet", "resnet18", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["resnet18"]["params"] == 11_173_962
    assert rows["resnet18"]["depth"] == 18
    assert rows["mini_resnet"]["params"] == 272_474
    assert rows["mini_resnet"]["depth"] == 20
    assert rows["resnet18"]["flops"] > rows["mini_resnet"]["flops"] > 0
    table = run("models", "mini_resnet", "resnet18").output.splitlines()
    assert table[0].split()[:4] == ["model", "params", "FLOPs", "depth"]
    assert table[2].split()[:4] == ["mini_resnet", "272.47K", "81.63M", "20"]


def test_models_with_other_arguments_builds_them():
    result = run("models", "mini_resnet", "--width-multiplier", "0.5", "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    model = keras_resnet.build_model("mini_resnet", width_multiplier=0.5)
    assert row["params"] == count_trainable_params(model)
    assert (row["depth"], row["layers"]) == (20, 20)


def test_models_lists_every_registered_model(monkeypatch):
    # Other arguments measure each model; measuring itself (real builds) is
    # test_models_with_other_arguments_builds_them's and the catalog tests'.
    from keras_resnet.models import catalog, summary

    measured = []

    def measure(names, *, width_multiplier, num_classes):
        measured.append((*names, width_multiplier, num_classes))
        return {name: catalog.CATALOG[name] for name in names}

    monkeypatch.setattr(summary, "measure", measure)
    result = run("models", "--width-multiplier", "0.125")
    assert result.exit_code == 0, result.output
    names = [
        line.split()[0]
        for line in result.output.splitlines()[2:]
        if not line.startswith(" ")  # a wrapped description
    ]
    assert names == keras_resnet.list_models()
    assert measured == [(name, 0.125, 10) for name in names]


def test_models_names_each_models_pretrained_weights(monkeypatch):
    # Two sets registered for one model, none for the other: the table joins
    # the names, '-' for none; --json lists them.
    from keras_resnet.models import catalog

    shipped = {("resnet18", "pets"): object(), ("resnet18", "birds"): object()}
    monkeypatch.setattr(catalog, "PRETRAINED", shipped)
    table = run("models", "mini_resnet", "resnet18").output.splitlines()
    assert table[0].split()[:5] == ["model", "params", "FLOPs", "depth", "weights"]
    rows = [line.split()[:5] for line in table[2:] if not line.startswith(" ")]
    assert rows == [
        ["mini_resnet", "272.47K", "81.63M", "20", "-"],
        ["resnet18", "11.17M", "1.11G", "18", "birds,pets"],
    ]
    result = run("models", "resnet18", "mini_resnet", "--json")
    weights = {row["name"]: row["weights"] for row in json.loads(result.output)}
    assert weights == {"mini_resnet": [], "resnet18": ["birds", "pets"]}


# -- formatting helpers and the shim -----------------------------------------------


def test_formatters():
    assert format_count(11_173_962) == "11.17M"
    assert format_count(999) == "999"
    assert format_duration(12.34) == "12.3s"
    assert format_duration(3725) == "1h02m05s"
    assert format_table(("a", "n"), [("x", 1), ("long", 22)]).splitlines() == [
        "a      n",
        "----  --",
        "x      1",
        "long  22",
    ]


def test_shim_runs_the_app_from_a_checkout_on_the_chosen_backend():
    result = subprocess.run(
        [sys.executable, "cli.py", "--version"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "KERAS_BACKEND": "jax"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"keras-resnet {keras_resnet.__version__}")
    assert "backend jax" in result.stdout


def test_commands_are_click_commands():
    for name in ("fit", "evaluate", "predict", "models"):
        assert isinstance(cli.get_command(click.Context(cli), name), click.Command)


def test_shell_completion_of_commands_and_models():
    def complete(words, cword):
        env = {
            "_KERAS_RESNET_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(cword),
        }
        result = CliRunner().invoke(cli, [], prog_name="keras-resnet", env=env)
        return [line.split(",", 1)[1] for line in result.output.splitlines()]

    assert complete("keras-resnet ev", 1) == ["evaluate"]
    assert complete("keras-resnet fit resnet18_n", 2) == ["resnet18_noskip"]
    assert "--batch-size" in complete("keras-resnet fit resnet18 --batch", 3)


def test_ctrl_c_outside_training_exits_130(monkeypatch):
    train = raising_train(KeyboardInterrupt())
    monkeypatch.setattr(keras_resnet.train, "train", train, raising=False)
    result = run("fit", "resnet18", "-o", "runs/x", "--quiet")
    assert result.exit_code == 130
    assert "Interrupted." in result.output

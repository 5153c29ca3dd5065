"""What answers at once: each case runs the command line in a fresh process
where ``import keras`` and ``import tensorflow`` fail, so any eager import of
Keras, TensorFlow, JAX or matplotlib on these paths fails the test."""

import json

import pytest
from import_blocker import blocked_python

from keras_resnet.cli import COMMANDS
from keras_resnet.models.catalog import CATALOG

# matplotlib too: the study package loads its figure code on first use only.
HEAVY = ("keras", "tensorflow", "jax", "torch", "matplotlib")
MAIN = "import sys; from keras_resnet.cli import main; sys.argv = {argv!r}; main()"


def keras_resnet(*args, env=None):
    code = MAIN.format(argv=["keras-resnet", *args])
    return blocked_python(code, *HEAVY, env=env, timeout=60)


def test_models_lists_the_zoo():
    done = keras_resnet("models")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == [
        "model",
        "params",
        "FLOPs",
        "depth",
        "weights",
        "description",
    ]
    names = [line.split()[0] for line in lines[2:] if not line.startswith(" ")]
    assert names == sorted(CATALOG)
    assert max(len(line) for line in lines) <= 80
    row = next(line for line in lines if line.startswith("wide_resnet28_10 "))
    assert row.split()[1:5] == ["36.48M", "10.49G", "28", "-"]


def test_models_pattern_lists_the_resnet_family_only():
    done = keras_resnet("models", "resnet*")
    assert done.returncode == 0, done.stderr
    names = [line.split()[0] for line in done.stdout.splitlines()[2:]]
    names = [name for name in names if name in CATALOG]
    assert names == ["resnet18", "resnet18_noskip", "resnet34", "resnet50"]
    assert "densenet121" not in done.stdout


def test_models_family_and_json():
    done = keras_resnet("models", "--family", "wide-resnet", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["name"], r["depth"], r["layers"]) for r in rows] == [
        ("wide_resnet16_4", 16, 14),
        ("wide_resnet28_10", 28, 26),
    ]


def test_version_reads_keras_version_and_backend_without_importing_keras(tmp_path):
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax"}))
    env = {"KERAS_HOME": str(tmp_path), "KERAS_BACKEND": ""}
    done = keras_resnet("--version", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("keras-resnet ")
    assert "(keras 3." in done.stdout and "backend jax)" in done.stdout
    done = keras_resnet("--version", env={**env, "KERAS_BACKEND": "torch"})
    assert "backend torch)" in done.stdout


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_of_every_command(command):
    done = keras_resnet(*([command] if command else []), "--help")
    assert done.returncode == 0, done.stderr
    assert "Usage: keras-resnet" in done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize(
    "args",
    [["fit", "resnet19"], ["compare", "--models", "resnet18,resnet19"]],
)
def test_unknown_model_exits_2_suggesting_the_closest(args):
    done = keras_resnet(*args)
    assert done.returncode == 2
    assert "'resnet19' is not one of the registered models" in done.stderr
    assert "(did you mean resnet18?)" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "words, cword, expected",
    [
        ("keras-resnet ev", 1, ["evaluate"]),
        ("keras-resnet fit resnet18_n", 2, ["resnet18_noskip"]),
        ("keras-resnet models --family w", 3, ["wide-resnet"]),
        ("keras-resnet compare --models resnet18,wide", 3, None),
    ],
)
def test_shell_completion(words, cword, expected):
    env = {
        "_KERAS_RESNET_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(cword),
    }
    done = blocked_python(
        MAIN.format(argv=["keras-resnet"]), *HEAVY, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    found = [line.split(",", 1)[1] for line in done.stdout.splitlines()]
    if expected is None:  # the last of a comma-separated list
        expected = ["resnet18,wide_resnet16_4", "resnet18,wide_resnet28_10"]
    assert found == expected

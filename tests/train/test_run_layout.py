"""The run-directory layout (keras_resnet.run_layout), model resolution
(keras_resnet.inference.find_model, used by evaluate and predict) and the
config's validation messages."""

import math

import pytest

from keras_resnet import run_layout
from keras_resnet.errors import RunDirectoryError
from keras_resnet.inference import find_model
from keras_resnet.train import TrainConfig, evaluate, rundir

# -- the layout --------------------------------------------------------------


@pytest.mark.parametrize(
    "metrics, completed",
    [
        ({"completed": True}, True),
        ({"completed": False}, False),
        (None, False),  # no metrics.json: still training
        ("{not json", False),  # unreadable: not completed, no error
    ],
)
def test_is_completed_reads_metrics_json(tmp_path, metrics, completed):
    if isinstance(metrics, str):
        (tmp_path / "metrics.json").write_text(metrics)
    elif metrics is not None:
        run_layout.write_json(tmp_path / "metrics.json", metrics)
    assert run_layout.is_completed(tmp_path) is completed


def test_write_json_replaces_atomically_and_reads_back(tmp_path):
    path = tmp_path / run_layout.METRICS_FILE
    path.write_text("old")
    run_layout.write_json(path, {"loss": math.nan, "epochs": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
    assert run_layout.read_json(path)["epochs"] == 2
    assert math.isnan(run_layout.read_json(path)["loss"])


def test_reading_a_bad_file_names_it(tmp_path):
    (tmp_path / "history.json").write_text("{")
    with pytest.raises(RunDirectoryError, match=r"history\.json is not valid JSON"):
        run_layout.read_json(tmp_path / "history.json")
    with pytest.raises(RunDirectoryError, match=r"Cannot read .*missing\.json"):
        run_layout.read_json(tmp_path / "missing.json")
    assert run_layout.read_optional_json(tmp_path / "missing.json") is None
    (tmp_path / "config.yaml").write_text("model: [unclosed")
    with pytest.raises(RunDirectoryError, match=r"Cannot read .*config\.yaml"):
        run_layout.read_config_values(tmp_path)


def test_config_values_and_metrics_of_a_run(tmp_path):
    assert run_layout.read_config_values(tmp_path) == {}
    assert run_layout.read_metrics(tmp_path) == {}
    assert not run_layout.has_config(tmp_path) and not run_layout.has_history(tmp_path)
    config = TrainConfig(model="mini_resnet", epochs=2)
    rundir.write_config(tmp_path, config)
    assert run_layout.read_config_values(tmp_path) == config.to_dict()
    assert rundir.read_config(tmp_path) == config
    assert run_layout.has_config(tmp_path)


def test_clear_run_deletes_every_layout_file_and_nothing_else(tmp_path):
    for name in run_layout.RUN_FILES:
        (tmp_path / name).write_text("x")
    for folder in (run_layout.BACKUP_DIR, run_layout.TENSORBOARD_DIR):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "f").write_text("x")
    (tmp_path / "notes.txt").write_text("mine")
    rundir.clear_run(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_temporary_files_of_every_layout_file_are_removed(tmp_path):
    temporary = ["config.yaml.tmp", "metrics.json.tmp", "history.csv.tmp"]
    temporary += ["model.tmp.keras", "best.tmp.keras", "dataset.json.tmp"]
    for name in temporary:
        (tmp_path / name).write_text("x")
    (tmp_path / "model.keras").write_text("kept")
    rundir.remove_temporary_files(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


# -- one resolution of a model path -------------------------------------------


def test_find_model_in_a_run_dir_a_file_and_a_versioned_saved_model(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.keras").write_bytes(b"")
    assert find_model(tmp_path / "run") == tmp_path / "run" / "model.keras"
    assert find_model(tmp_path / "run" / "model.keras") == (
        tmp_path / "run" / "model.keras"
    )
    for version in ("1", "10", "9"):
        (tmp_path / "serving" / version).mkdir(parents=True)
        (tmp_path / "serving" / version / "saved_model.pb").write_bytes(b"")
    assert find_model(tmp_path / "serving") == tmp_path / "serving" / "10"
    assert find_model(tmp_path / "serving" / "9") == tmp_path / "serving" / "9"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.mkdir(), "No model found: .* has no model.keras and no "),
        (lambda p: p.write_text("x"), r"Not a \.keras model file: "),
        (lambda p: None, "No such file or directory: "),
    ],
    ids=["empty-dir", "other-file", "missing"],
)
def test_find_model_says_what_it_expected(tmp_path, make, message):
    target = tmp_path / "target"
    make(target)
    with pytest.raises(RunDirectoryError, match=message) as caught:
        find_model(target)
    assert str(target) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_evaluate_resolves_paths_the_same_way(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(RunDirectoryError, match=r"Not a \.keras model file"):
        evaluate(tmp_path / "notes.txt", dataset="synthetic")
    with pytest.raises(RunDirectoryError, match="No model found"):
        evaluate(tmp_path, dataset="synthetic")


# -- the config's validation messages -----------------------------------------


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("epochs", 0, "epochs must be a positive integer. Received: epochs=0"),
        ("epochs", True, "epochs must be a positive integer. Received: epochs=True"),
        (
            "learning_rate",
            math.inf,
            "learning_rate must be a positive finite number. "
            "Received: learning_rate=inf",
        ),
        (
            "momentum",
            -0.1,
            "momentum must be a finite number >= 0. Received: momentum=-0.1",
        ),
        (
            "label_smoothing",
            1.0,
            "label_smoothing must be a finite number in [0, 1). "
            "Received: label_smoothing=1.0",
        ),
        (
            "validation_split",
            "0.1",
            "validation_split must be a finite number in [0, 1). "
            "Received: validation_split='0.1'",
        ),
        (
            "optimizer",
            "adam",
            "optimizer must be one of sgd, adamw. Received: optimizer='adam'",
        ),
        (
            "grad_norm_steps",
            [0, True],
            "grad_norm_steps must be integers >= 0. Received: grad_norm_steps=[0, True]",
        ),
    ],
)
def test_config_rejects_a_bad_value_naming_it(field, value, message):
    with pytest.raises(ValueError) as caught:
        TrainConfig(**{field: value})
    assert str(caught.value) == message

import json

import pytest

from keras_resnet import run_layout
from keras_resnet.errors import RunDirectoryError
from keras_resnet.train import rundir
from keras_resnet.train.config import TrainConfig


def unfinished_run(path, config):
    path.mkdir()
    rundir.write_config(path, config)
    (path / "backup").mkdir()
    run_layout.write_json(
        path / "backup" / "state.json", {"epoch": 1, "weights": "w.h5"}
    )


def test_resume_refuses_a_different_configuration(tmp_path):
    config = TrainConfig(output_dir=str(tmp_path / "run"), learning_rate=0.1)
    unfinished_run(tmp_path / "run", config)
    with pytest.raises(RunDirectoryError, match="differs in learning_rate"):
        rundir.prepare_run_dir(
            config.replace(learning_rate=0.2), resume=True, overwrite=False
        )
    with pytest.raises(RunDirectoryError, match="differs in epochs"):
        rundir.prepare_run_dir(
            config.replace(epochs=config.epochs + 5), resume=True, overwrite=False
        )
    quieter = config.replace(verbose=0)
    assert (
        rundir.prepare_run_dir(quieter, resume=True, overwrite=False)
        == tmp_path / "run"
    )
    state = rundir.load_backup(tmp_path / "run")
    assert state["weights_path"].endswith("backup/w.h5")


def test_overwrite_clears_an_unfinished_run(tmp_path):
    config = TrainConfig(output_dir=str(tmp_path / "run"))
    unfinished_run(tmp_path / "run", config)
    with pytest.raises(RunDirectoryError, match="unfinished"):
        rundir.prepare_run_dir(config, resume=False, overwrite=False)
    rundir.prepare_run_dir(config, resume=False, overwrite=True)
    assert not (tmp_path / "run" / "backup").exists()
    assert not (tmp_path / "run" / "config.yaml").exists()


def test_history_files_keep_the_contract_columns_first(tmp_path):
    rows = [
        {
            "epoch": 1,
            "loss": 2.0,
            "accuracy": 0.1,
            "val_loss": None,
            "val_accuracy": None,
            "learning_rate": 0.1,
            "epoch_time": 3.0,
            "grad_norm/fc": 0.5,
        },
    ]
    rundir.write_history(tmp_path, rows)
    history = json.loads((tmp_path / "history.json").read_text())
    assert list(history) == [*run_layout.HISTORY_KEYS, "grad_norm/fc"]
    header = (tmp_path / "history.csv").read_text().splitlines()[0]
    assert header == ",".join([*run_layout.HISTORY_KEYS, "grad_norm/fc"])


@pytest.mark.parametrize("value", ["yes", 1])
def test_deterministic_must_be_a_boolean_or_none(value):
    with pytest.raises(ValueError, match=f"Received: deterministic={value!r}"):
        TrainConfig(deterministic=value)


def test_deterministic_round_trips_through_yaml(tmp_path):
    TrainConfig(deterministic=False).to_yaml(tmp_path / "c.yaml")
    assert TrainConfig.from_yaml(tmp_path / "c.yaml").deterministic is False

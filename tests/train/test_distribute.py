"""tf.distribute's mirrored strategy in a fresh interpreter (logical devices
must be set up before TensorFlow initializes), and the removed multiworker
strategy. Multi-process training: test_data_parallel.py."""

import json
import re

import keras
import pytest
from click.testing import CliRunner
from train_helpers import run_python

from keras_resnet.cli import cli

TRAIN_AND_REPORT = """
import json, sys
sys.path[:0] = ["tests", "tests/train"]
{setup}
from train_helpers import tiny_config
from keras_resnet.train import train
config = tiny_config(
    {run_dir!r}, epochs=2, strategy={strategy!r}, batch_size=32,
    width_multiplier=0.125, max_train_examples=96, validation_split=1 / 3,
    max_test_examples=16, grad_norm_steps=[0],
)
result = train(config)
weights = result.model.get_weights()
print("RESULT", json.dumps({{
    "replicas": result.metrics["replicas"],
    "checksum": float(sum(abs(w).sum() for w in weights)),
    "run_dir": str(result.run_dir),
    "loss": result.history["loss"],
}}))
"""

TWO_CPUS = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)
"""


def parse(result) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    code = TRAIN_AND_REPORT.format(
        setup=TWO_CPUS, run_dir=str(tmp_path / "mirrored"), strategy="mirrored"
    )
    report = parse(run_python(code))
    assert report["replicas"] == 2
    metrics = json.loads((tmp_path / "mirrored" / "metrics.json").read_text())
    assert metrics["completed"] is True and metrics["epochs"] == 2
    assert len(report["loss"]) == 2


def test_multiworker_is_refused_pointing_at_data_parallel():
    result = CliRunner().invoke(cli, ["fit", "mini_resnet", "--strategy=multiworker"])
    assert result.exit_code == 2
    assert (
        "Invalid value for '--strategy': multiworker was removed: TensorFlow's "
        "MultiWorkerMirroredStrategy fails inside Keras 3 (keras-team/keras#20585); "
        "use data_parallel with KERAS_BACKEND=jax"
    ) in " ".join(result.output.split())


def test_config_refuses_multiworker_naming_data_parallel():
    """A config file or a library call gets the same pointer as the CLI."""
    from keras_resnet.train.config import TrainConfig

    with pytest.raises(ValueError) as info:
        TrainConfig(model="mini_resnet", strategy="multiworker")
    message = str(info.value)
    assert message.startswith("strategy multiworker was removed: ")
    assert "use data_parallel with KERAS_BACKEND=jax" in message
    assert message.endswith("Received: strategy='multiworker'")
    with pytest.raises(ValueError, match="must be one of auto, default, mirrored"):
        TrainConfig(model="mini_resnet", strategy="nccl")


@pytest.mark.parametrize(
    ("strategy", "backend", "message"),
    [
        ("data_parallel", "tensorflow", "needs the jax backend (KERAS_BACKEND=jax)"),
        ("data_parallel", "torch", "not torch; on one TensorFlow host use mirrored"),
        ("mirrored", "jax", "needs the tensorflow backend; on jax use data_parallel"),
    ],
)
def test_a_strategy_the_backend_cannot_run_is_refused(strategy, backend, message):
    from keras_resnet.train.config import check_strategy_backend

    with pytest.raises(ValueError, match=re.escape(message)) as info:
        check_strategy_backend(strategy, backend)
    assert str(info.value).endswith(f"Received: strategy={strategy!r}")
    for fine in (("data_parallel", "jax"), ("mirrored", "tensorflow"), ("auto", "jax")):
        check_strategy_backend(*fine)


def test_the_library_refuses_data_parallel_on_tensorflow_too():
    # The command line refuses it before Keras starts (test_data_parallel);
    # train() checks the backend Keras really has.
    from keras_resnet.train import distribute

    assert keras.backend.backend() == "tensorflow"
    with pytest.raises(ValueError, match="data_parallel needs the jax backend"):
        distribute.setup("data_parallel", 32)

"""tf.distribute strategies, each in fresh interpreters (logical devices and
collectives must be set up before TensorFlow initializes)."""

import json
import socket

import pytest
from train_helpers import REPO, run_python

TRAIN_AND_REPORT = """
import json, sys
sys.path.insert(0, "tests/train")
{setup}
from train_helpers import tiny_config
from keras_resnet.train import train
result = train(tiny_config({run_dir!r}, epochs=2, strategy={strategy!r}, batch_size=32))
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


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


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


@pytest.mark.slow
@pytest.mark.xfail(
    reason="Keras 3 fit() all-reduces the first batch with MultiWorkerMirroredStrategy "
    "and fails ('PerReplica ... to a Tensor'): keras-team/keras#20585",
    strict=False,
)
def test_multiworker_strategy_with_two_local_workers(tmp_path):
    import subprocess
    import sys

    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = []
    for index in range(2):
        code = TRAIN_AND_REPORT.format(
            setup="", run_dir=str(tmp_path / "multi"), strategy="multiworker"
        )
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = {"TF_CONFIG": json.dumps(tf_config), "TF_CPP_MIN_LOG_LEVEL": "2"}
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", code],
                cwd=REPO,
                env={**__import__("os").environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=300) for p in processes]
    reports = [
        parse(subprocess.CompletedProcess([], p.returncode, out, err))
        for p, (out, err) in zip(processes, outputs, strict=True)
    ]
    assert [r["replicas"] for r in reports] == [2, 2]
    # Both workers hold the same synchronised weights; only the chief
    # (worker 0) writes the run directory.
    assert reports[0]["checksum"] == pytest.approx(reports[1]["checksum"], rel=1e-6)
    assert reports[0]["run_dir"] == str(tmp_path / "multi")
    assert reports[1]["run_dir"] != reports[0]["run_dir"]
    metrics = json.loads((tmp_path / "multi" / "metrics.json").read_text())
    assert metrics["completed"] is True

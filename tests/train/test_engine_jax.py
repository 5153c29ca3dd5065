"""The engine end to end on KERAS_BACKEND=jax, in a fresh interpreter."""

import json

import pytest
from train_helpers import run_python

JAX_RUN = """
import json, sys
sys.path[:0] = ["tests", "tests/train"]
import keras
assert keras.backend.backend() == "jax"
from train_helpers import tiny_config
from keras_resnet.train import evaluate, train
from keras_resnet import callbacks
result = train(tiny_config({run_dir!r}, epochs=2, jit_compile=True))
evaluation = evaluate({run_dir!r})
model = keras.saving.load_model({run_dir!r} + "/model.keras")
recorder = callbacks.GradientNormRecorder
print("RESULT", json.dumps({{
    "metrics": result.metrics,
    "evaluate_accuracy": evaluation["accuracy"],
    "norm_function": recorder.__module__,
    "layers": len(model.layers),
}}))
"""


@pytest.mark.slow
def test_jax_backend_trains_records_gradients_evaluates_and_saves(tmp_path):
    run_dir = str(tmp_path / "jax")
    result = run_python(JAX_RUN.format(run_dir=run_dir), env={"KERAS_BACKEND": "jax"})
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    report = json.loads(line[len("RESULT ") :])
    assert report["metrics"]["completed"] is True
    assert report["evaluate_accuracy"] == report["metrics"]["test_accuracy"]
    norms = json.loads((tmp_path / "jax" / "gradient_norms.json").read_text())
    assert [(r["epoch"], r["step"]) for r in norms["records"]] == [
        (0, 0),
        (0, 2),
        (1, 0),
        (2, 0),
    ]
    assert all(v > 0 for r in norms["records"] for v in r["norms"].values())
    history = json.loads((tmp_path / "jax" / "history.json").read_text())
    assert history["epoch"] == [1, 2]

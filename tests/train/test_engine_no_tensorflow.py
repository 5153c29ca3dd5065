"""The engine on JAX with TensorFlow blocked, as on a JAX-only machine."""

import json

import pytest
from train_helpers import run_python

SCRIPT = r"""
import json, sys


class BlockTensorFlow:  # any `import tensorflow...` now fails, as if not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tensorflow_datasets", "tensorboard"):
            raise ModuleNotFoundError(f"No module named {name!r}")


sys.meta_path.insert(0, BlockTensorFlow())
sys.path.insert(0, "tests/train")
from train_helpers import tiny_config
from keras_resnet.train import evaluate, train
result = train(tiny_config(sys.argv[1], epochs=2))
# evaluate resolves the run through keras_resnet.inference: same-size images
# need no TensorFlow.
evaluation = evaluate(sys.argv[1])
print("RESULT", json.dumps({
    "tensorflow": "tensorflow" in sys.modules,
    "metrics": result.metrics,
    "history": result.history,
    "evaluation": evaluation,
}))
"""


@pytest.mark.slow
def test_engine_trains_on_jax_without_tensorflow(tmp_path):
    run_dir = tmp_path / "notf"
    code = SCRIPT.replace("sys.argv[1]", repr(str(run_dir)))
    result = run_python(code, env={"KERAS_BACKEND": "jax"})
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    report = json.loads(line[len("RESULT ") :])
    assert report["tensorflow"] is False
    assert report["metrics"]["completed"] is True
    evaluation = report["evaluation"]
    assert evaluation["accuracy"] == pytest.approx(report["metrics"]["test_accuracy"])
    assert evaluation["num_examples"] == sum(map(sum, evaluation["confusion_matrix"]))
    assert report["history"]["epoch"] == [1, 2]
    norms = json.loads((run_dir / "gradient_norms.json").read_text())
    assert len(norms["records"]) == 4
    assert not (run_dir / "tensorboard").exists()
    assert (run_dir / "model.keras").is_file()

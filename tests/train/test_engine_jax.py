"""Training on KERAS_BACKEND=jax with TensorFlow installed, in one fresh process.

With TensorFlow importable the engine feeds JAX from tf.data pipelines (the
TensorFlow-free path, NumPy loaders, is tests/test_without_tensorflow.py).
One new interpreter runs two things and reports them as JSON:

- the engine end to end: ``train`` two epochs with ``jit_compile``, gradient
  norms recorded at the planned steps, ``evaluate`` of the saved run, the
  history written;
- the gradient instrument on JAX: the probe's per-kernel norms equal the
  norms of ``jax.grad`` of the mean loss, and the norms recorded while
  training at learning rate 0 are those of the gradients applied;
- the data-parallel ``predict`` (equal, padded batches) against Keras'.

Both use the tiny run's ResNet-8 at quarter width on 32x32 images in batches
of 32, so JAX compiles each variable initializer once for both;
``XLA_FLAGS`` make XLA compile faster (``FAST_XLA``).
"""

import json

import numpy as np
import pytest
from jax_env import FAST_XLA
from train_helpers import run_python

# XLA compiles faster with its backend optimization off and its older CPU
# emitters; the programs here are tiny and compiling them is most of the time
# (at full optimization, three times longer). The flags change how XLA
# compiles, not what the model computes.

SCRIPT = """
import json, sys
sys.path[:0] = ["tests", "tests/train"]
import jax, keras, numpy as np
assert keras.backend.backend() == "jax"
from train_helpers import tiny_config
from keras_resnet import build_model
from keras_resnet.callbacks import GradientNormRecorder, kernel_layers
from keras_resnet.train import evaluate, train
from keras_resnet.train.optim import KernelL2SGD, with_gradient_norms

run_dir = sys.argv[1]
out = {}

# The engine: two epochs, gradient norms, evaluate the saved run.
result = train(tiny_config(run_dir, epochs=2, jit_compile=True))
out["metrics"] = result.metrics
out["evaluate_accuracy"] = evaluate(run_dir)["accuracy"]

# The gradient instrument: the probe, jax.grad and training at rate 0.
rng = np.random.default_rng(0)
x = rng.uniform(0, 1, (32, 32, 32, 3)).astype("float32")
y = rng.integers(0, 10, 32)
keras.utils.set_random_seed(1)
model = build_model("mini_resnet", blocks_per_stage=1, width_multiplier=0.25)
recorder = GradientNormRecorder((x, y), model=model, batch_size=32)
out["probe"] = list(recorder.compute_norms().values())

# The data-parallel predict: 7 images in equal batches of 3 (two padding
# rows), one output row per image, those of model.predict.
from keras_resnet.train import distribute
with keras.distribution.DataParallel(devices=jax.devices()).scope():
    parallel = distribute.predict(model, x[:7], batch_size=3)
out["parallel_predict"] = [len(parallel), float(np.max(np.abs(
    parallel - np.asarray(model.predict(x[:7], verbose=0)))))]
loss = keras.losses.SparseCategoricalCrossentropy()
kernels = [layer.kernel for layer in kernel_layers(model)]
ids = [id(v) for v in model.trainable_variables]
index = [ids.index(id(k)) for k in kernels]


def value(trainable):
    logits, _ = model.stateless_call(
        trainable, [v.value for v in model.non_trainable_variables], x,
        training=True)
    return loss(y, logits)


# Compiled whole: eager jax.grad compiles op by op, ten times slower.
grads = jax.jit(jax.grad(value))([v.value for v in model.trainable_variables])
out["direct"] = [float(np.linalg.norm(np.asarray(grads[i]))) for i in index]
optimizer = with_gradient_norms(KernelL2SGD)(
    learning_rate=0.0, tracked_kernels=[k.path for k in kernels])
model.compile(optimizer, "sparse_categorical_crossentropy")
fit_recorder = GradientNormRecorder((x, y), steps=[0])
model.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False,
          callbacks=[fit_recorder])
out["train"] = fit_recorder.train
out["tensorflow"] = "tensorflow" in sys.modules
print("RESULT", json.dumps(out))
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The run directory and the JSON report of the one JAX process."""
    run_dir = tmp_path_factory.mktemp("jax") / "run"
    result = run_python(
        SCRIPT,
        run_dir,
        env={
            "KERAS_BACKEND": "jax",
            "JAX_PLATFORMS": "cpu",
            "XLA_FLAGS": FAST_XLA,
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    return run_dir, json.loads(line[len("RESULT ") :])


@pytest.mark.slow
def test_jax_backend_trains_records_gradients_evaluates_and_saves(report):
    run_dir, out = report
    # The engine took the tf.data path: TensorFlow was there to be used.
    assert out["tensorflow"] is True
    assert out["metrics"]["completed"] is True
    assert out["evaluate_accuracy"] == out["metrics"]["test_accuracy"]
    norms = json.loads((run_dir / "gradient_norms.json").read_text())
    assert [(r["epoch"], r["step"]) for r in norms["records"]] == [
        (0, 0),
        (0, 2),
        (1, 0),
        (2, 0),
    ]
    assert all(v > 0 for r in norms["records"] for v in r["norms"].values())
    history = json.loads((run_dir / "history.json").read_text())
    assert history["epoch"] == [1, 2]
    assert (run_dir / "model.keras").is_file()


@pytest.mark.slow
def test_data_parallel_predict_drops_its_padding_rows(report):
    _, out = report
    rows, difference = out["parallel_predict"]
    assert rows == 7 and difference < 1e-5


@pytest.mark.slow
def test_on_jax_probe_and_training_norms_equal_jax_grad(report):
    _, out = report
    np.testing.assert_allclose(out["probe"], out["direct"], rtol=2e-5)
    # One full batch per epoch at learning rate 0: the applied gradient is
    # the direct one (mean and max of one step are that step's norm).
    assert [t["steps"] for t in out["train"]] == [1, 1]
    for entry in out["train"]:
        np.testing.assert_allclose(
            list(entry["mean"].values()), out["direct"], rtol=1e-4
        )
        assert entry["mean"] == pytest.approx(entry["max"])

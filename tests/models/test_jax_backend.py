"""The builders on the JAX backend: same names, counts and exact round trip."""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, sys, tempfile, os
import numpy as np
import keras
assert keras.backend.backend() == "jax", keras.backend.backend()
import keras_resnet
from keras_resnet.models import count_trainable_params
out = {}
x = np.random.default_rng(0).random((2, 32, 32, 3), dtype="float32")
for name in keras_resnet.list_models():
    model = keras_resnet.build_model(name, width_multiplier=0.125)
    # predict_on_batch compiles the whole graph once; eager JAX compiles op
    # by op, three times slower for DenseNet's 425 layers.
    y = np.asarray(model.predict_on_batch(x))
    path = os.path.join(tempfile.mkdtemp(), "m.keras")
    model.save(path)
    z = np.asarray(keras.saving.load_model(path, safe_mode=True).predict_on_batch(x))
    out[name] = {
        "params": count_trainable_params(model),
        "names": [layer.name for layer in model.layers],
        "shape": list(y.shape),
        "exact": bool(np.array_equal(y, z)),
    }
print(json.dumps(out))
"""


@pytest.mark.slow
def test_builders_on_jax(tiny_model):
    import keras_resnet
    from keras_resnet.models import count_trainable_params

    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jax_models = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(jax_models) == keras_resnet.list_models()
    for name, info in jax_models.items():
        tf_model = tiny_model(name)
        assert info["names"] == [layer.name for layer in tf_model.layers]
        # Full-size counts are pinned on TensorFlow by test_builders; equal
        # tiny counts and names show the JAX graph is the same network.
        assert info["params"] == count_trainable_params(tf_model)
        assert info["shape"] == [2, 10]
        assert info["exact"], name

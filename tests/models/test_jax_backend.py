"""The builders on the JAX backend, without TensorFlow: same names, counts and
exact round trip."""

import json

import pytest
from import_blocker import TENSORFLOW, blocked_python

SCRIPT = r"""
import json, sys, tempfile, os
import numpy as np
import keras
assert keras.backend.backend() == "jax", keras.backend.backend()
import keras_resnet
from keras_resnet.models import count_trainable_params
from keras_resnet.models import DenseNetSpec, build_densenet
out = {}
x = np.random.default_rng(0).random((2, 32, 32, 3), dtype="float32")


def round_trip_is_exact(model, y):
    path = os.path.join(tempfile.mkdtemp(), "m.keras")
    model.save(path)
    z = keras.saving.load_model(path, safe_mode=True).predict_on_batch(x)
    return bool(np.array_equal(y, np.asarray(z)))


for name in keras_resnet.list_models():
    model = keras_resnet.build_model(name, width_multiplier=0.125)
    # predict_on_batch compiles the whole graph once; eager JAX compiles op
    # by op, three times slower for DenseNet's 425 layers.
    y = np.asarray(model.predict_on_batch(x))
    out[name] = {
        "params": count_trainable_params(model),
        "names": [layer.name for layer in model.layers],
        "shape": list(y.shape),
        # Building DenseNet-121 on JAX is most of this test: its round trip
        # is that of a two-block DenseNet of the same layers (below).
        "exact": name == "densenet121" or round_trip_is_exact(model, y),
    }
small = build_densenet(DenseNetSpec(8, (2, 2)))
out["densenet_round_trip"] = round_trip_is_exact(small, small.predict_on_batch(x))
print(json.dumps(out))
"""


@pytest.mark.slow
def test_builders_on_jax(tiny_model):
    import keras_resnet
    from keras_resnet.models import count_trainable_params

    # TensorFlow blocked: the models package needs only Keras and its backend.
    result = blocked_python(
        SCRIPT,
        *TENSORFLOW,
        env={"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"},
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jax_models = json.loads(result.stdout.strip().splitlines()[-1])
    assert jax_models.pop("densenet_round_trip") is True
    assert sorted(jax_models) == keras_resnet.list_models()
    for name, info in jax_models.items():
        tf_model = tiny_model(name)
        assert info["names"] == [layer.name for layer in tf_model.layers]
        # Full-size counts are pinned on TensorFlow by test_builders; equal
        # tiny counts and names show the JAX graph is the same network.
        assert info["params"] == count_trainable_params(tf_model)
        assert info["shape"] == [2, 10]
        assert info["exact"], name

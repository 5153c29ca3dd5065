"""Array sources, the NumPy loader and augmentation work with TensorFlow blocked."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from data_helpers import make_tar, write_cifar10_python, write_image_tree
from import_blocker import blocked_prelude

# Any `import tensorflow...` fails in this process, as if it were not installed.
SCRIPT = (
    blocked_prelude("tensorflow", "tensorflow_datasets")
    + r"""
import json
import numpy as np
import keras
from keras_resnet.data import load_dataset
from keras_resnet.data.loader import ArrayLoader
from keras_resnet.augment import build_augmentation, build_normalization
out = {"backend": keras.backend.backend()}
for source in sys.argv[1:]:
    splits = load_dataset(source, validation_split=0.2)
    out[source] = [splits.train_size, splits.validation_size, splits.test_size]
splits = load_dataset("synthetic", max_train_examples=64)
loader = ArrayLoader(*splits.arrays["train"], batch_size=16, training=True, seed=1)
inputs = keras.Input(splits.image_shape, dtype="uint8")
x = build_normalization(splits.mean, splits.std)(build_augmentation(cutout=8)(inputs))
x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(x))
model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
model.compile("sgd", "sparse_categorical_crossentropy", jit_compile=True)
history = model.fit(
    loader, epochs=2, verbose=0, shuffle=False, callbacks=[loader.epoch_callback()]
)
out["epochs"] = len(history.history["loss"])
out["loader_epoch"] = loader.epoch
out["steps"] = [int(np.asarray(w)) for w in model.non_trainable_weights if w.dtype == "int32"]
out["tensorflow"] = "tensorflow" in sys.modules
print(json.dumps(out))
"""
)


@pytest.mark.slow
def test_array_path_without_tensorflow(tmp_path):
    npz = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(
        npz,
        x_train=rng.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8),
        y_train=np.arange(20) % 2,
        x_test=rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8),
        y_test=np.array([0, 1, 0, 1]),
    )
    tree = write_image_tree(tmp_path / "tree")
    make_tar(tree, tmp_path / "tree.tar.gz")
    write_cifar10_python(tmp_path / "cifar" / "cifar-10-batches-py")
    sources = [str(npz), str(tmp_path / "tree.tar.gz"), str(tmp_path / "cifar")]
    env = {**os.environ, "KERAS_BACKEND": "jax", "KERAS_RESNET_CACHE": "none"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, *sources],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["backend"] == "jax" and out["tensorflow"] is False
    assert out[str(npz)] == [16, 4, 4]
    assert out[str(tmp_path / "tree.tar.gz")] == [14, 4, 9]
    assert out[str(tmp_path / "cifar")] == [16, 4, 4]
    assert out["epochs"] == 2 and out["loader_epoch"] == 1
    assert out["steps"] == [8, 8]  # 4 batches x 2 epochs per augmentation layer

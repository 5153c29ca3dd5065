"""Helpers shared by the training tests (tiny configs, fresh interpreters)."""

import os
import pathlib
import subprocess
import sys

import tiny

REPO = pathlib.Path(__file__).resolve().parents[2]


def tiny_config(output_dir, **changes):
    """The shared tiny run (``tests/tiny.py``) at quarter width, which these
    tests' tolerances and layer shapes were written for."""
    return tiny.tiny_config(output_dir, **{"width_multiplier": 0.25, **changes})


def run_python(
    code: str, *args: str, env=None, timeout=300
) -> subprocess.CompletedProcess:
    """Run ``code`` (seeing ``args`` as ``sys.argv[1:]``) in a fresh
    interpreter from the repository root."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ``run_python(KILL_OR_RESUME, mode, run_dir)``: the tiny 3-epoch run, whole
# ("reference"), killed with SIGKILL after batch 1 of its third epoch
# ("kill"), or resumed ("resume").
KILL_OR_RESUME = """
import os, signal, sys, keras
sys.path[:0] = ["tests", "tests/train"]
from train_helpers import tiny_config
from keras_resnet.train import train

mode, run_dir = sys.argv[1], sys.argv[2]


class Kill(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == (2, 1):
            os.kill(os.getpid(), signal.SIGKILL)


config = tiny_config(run_dir, epochs=3)
if mode == "kill":
    train(config, callbacks=[Kill()])
else:
    train(config, resume=mode == "resume")
"""

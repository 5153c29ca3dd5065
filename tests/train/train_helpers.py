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


# The run the SIGKILL/Ctrl-C resume tests use: 96 training images in three
# steps of 32 (the kill and the interrupt land inside an epoch, the step-2
# gradient record exists), 32 validation and 32 test images, three epochs.
RESUME_RUN = dict(
    epochs=3,
    width_multiplier=0.125,
    max_train_examples=128,
    validation_split=0.25,
    max_test_examples=32,
)


def resume_config(output_dir, **changes):
    """``RESUME_RUN`` as a ``TrainConfig`` writing to ``output_dir``."""
    return tiny_config(output_dir, **{**RESUME_RUN, **changes})


# ``run_python(KILL_OR_RESUME, mode, run_dir, [mode, run_dir, ...])``: for
# each pair in turn, the ``RESUME_RUN`` run whole ("reference"), killed with
# SIGKILL after batch 1 of its third epoch ("kill", so last), or resumed
# ("resume"); one process can resume a run and then train the reference.
KILL_OR_RESUME = """
import os, signal, sys, keras
sys.path[:0] = ["tests", "tests/train"]
from train_helpers import resume_config
from keras_resnet.train import train


class Kill(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == (2, 1):
            os.kill(os.getpid(), signal.SIGKILL)


pairs = sys.argv[1:]
for mode, run_dir in zip(pairs[::2], pairs[1::2]):
    config = resume_config(run_dir)
    if mode == "kill":
        train(config, callbacks=[Kill()])
    else:
        train(config, resume=mode == "resume")
"""

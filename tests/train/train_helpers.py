"""Helpers shared by the training tests (tiny configs, fresh interpreters)."""

import os
import pathlib
import subprocess
import sys

from keras_resnet.train import TrainConfig

REPO = pathlib.Path(__file__).resolve().parents[2]


def tiny_config(output_dir, **changes) -> TrainConfig:
    """A ResNet-8 at quarter width on 192 synthetic images: seconds per run."""
    values = dict(
        model="mini_resnet",
        model_options={"blocks_per_stage": 1},
        width_multiplier=0.25,
        dataset="synthetic",
        epochs=2,
        batch_size=32,
        max_train_examples=224,
        max_test_examples=50,
        validation_split=1 / 7,
        grad_norm_steps=[0, 2],
        jit_compile=False,
        verbose=0,
        output_dir=str(output_dir),
    )
    values.update(changes)
    return TrainConfig(**values)


def run_python(code: str, *, env=None, timeout=300) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter from the repository root."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )

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

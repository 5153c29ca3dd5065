"""Run the ``keras-resnet`` command line in a new process, as a user does."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def keras_resnet(*args, cwd, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``cli.py ARGS`` in a fresh interpreter; return the completed process."""
    return subprocess.run(
        [sys.executable, str(REPO / "cli.py"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )

"""Run the ``keras-resnet`` command line in a new process, as a user does."""

from __future__ import annotations

import json
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


CLI_CALLS = r"""
import json, os, sys, tempfile
from keras_resnet.cli import main


def call(argv):
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            main(argv)
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else int(bool(stop.code))
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        out.seek(0)
        err.seek(0)
        return [code, out.read().decode(), err.read().decode()]


results = [call(argv) for argv in json.loads(sys.argv[1])]
print("RESULTS " + json.dumps(results))
"""


def cli_calls(*calls, cwd, env=None, prelude=""):
    """``keras-resnet`` run once per argument list, all in one new process.

    The process imports nothing of the package before the first call (as
    ``python cli.py`` does), so the first call of each process meets a fresh
    interpreter; later calls find what earlier ones imported.

    Args:
        *calls: Argument lists, e.g. ``["predict", "run", "a.png"]``.
        cwd: The working directory of the process.
        env: Variables added to this process' environment (and
            ``TF_CPP_MIN_LOG_LEVEL=3``, as ``cli_process.keras_resnet`` sets).
        prelude: Python source run first in the process (e.g. to register
            a test entry the calls use).

    Returns:
        One ``subprocess.CompletedProcess`` per call (its own exit status,
        stdout and stderr).
    """
    argvs = [[str(arg) for arg in call] for call in calls]
    done = subprocess.run(
        [sys.executable, "-c", prelude + CLI_CALLS, json.dumps(argvs)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("RESULTS ")]
    return [
        subprocess.CompletedProcess(argv, code, out, err)
        for argv, (code, out, err) in zip(
            argvs, json.loads(line[len("RESULTS ") :]), strict=True
        )
    ]

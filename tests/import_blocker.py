"""Run Python in a fresh process where some packages cannot be imported.

The one import blocker of the test suite. Tests use it to check what a user
without this package, without TensorFlow or without Keras sees:
``blocked_python(code, "keras_resnet")`` runs ``code`` in a new interpreter in
which ``import keras_resnet`` (and any submodule) raises
``ModuleNotFoundError`` as if the package were not installed, and
``blocked_python(code, *TENSORFLOW, env={"KERAS_BACKEND": "jax"})`` is a
JAX-only machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

# What a JAX-only install lacks: TensorFlow and the packages that need it.
TENSORFLOW = ("tensorflow", "tensorflow_datasets", "tensorboard", "tf2onnx")

PRELUDE = """\
import sys


class _Blocker:
    prefixes = {prefixes!r}

    def find_spec(self, name, path=None, target=None):
        if any(name == p or name.startswith(p + ".") for p in self.prefixes):
            raise ModuleNotFoundError(
                f"No module named {{name!r}} (blocked in this test process)",
                name=name,
            )
        return None


sys.meta_path.insert(0, _Blocker())
"""


def blocked_prelude(*prefixes: str) -> str:
    """Python source that makes ``prefixes`` unimportable when run first."""
    return PRELUDE.format(prefixes=tuple(prefixes))


def blocked_python(
    code: str,
    *prefixes: str,
    args: Sequence[str | os.PathLike] = (),
    cwd: str | os.PathLike | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run ``code`` in a new interpreter with ``prefixes`` unimportable.

    Args:
        code: Python source; it sees ``args`` as ``sys.argv[1:]``.
        *prefixes: Top-level package names to block, with their submodules.
        args: Command-line arguments for ``code``.
        cwd: The working directory (default: this one).
        env: Variables added to this process' environment.
        timeout: Seconds before the process is killed.

    Returns:
        The completed process, with text ``stdout`` and ``stderr``.
    """
    return subprocess.run(
        [sys.executable, "-c", blocked_prelude(*prefixes) + code, *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )

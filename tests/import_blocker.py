"""Run Python in a fresh process where some packages cannot be imported.

Tests use it to check what a user without this package (or without
TensorFlow, or without Keras) sees: ``blocked_python(code, "keras_resnet")``
runs ``code`` in a new interpreter in which ``import keras_resnet`` (and any
submodule) raises ``ImportError`` as if the package were not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys

PRELUDE = """\
import sys


class _Blocker:
    prefixes = {prefixes!r}

    def find_spec(self, name, path=None, target=None):
        if any(name == p or name.startswith(p + ".") for p in self.prefixes):
            raise ImportError(f"{{name}} is blocked in this test process")
        return None


sys.meta_path.insert(0, _Blocker())
"""


def blocked_prelude(*prefixes: str) -> str:
    """Python source that makes ``prefixes`` unimportable when run first."""
    return PRELUDE.format(prefixes=tuple(prefixes))


def blocked_python(
    code: str,
    *prefixes: str,
    cwd: str | os.PathLike | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run ``code`` in a new interpreter with ``prefixes`` unimportable."""
    return subprocess.run(
        [sys.executable, "-c", blocked_prelude(*prefixes) + code],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )

"""Keep TensorFlow's C++ start-up INFO lines off the command's stderr.

TensorFlow 2.21 logs a few INFO lines through Abseil while its shared
libraries load ("oneDNN custom operations are on", "Could not find cuda
drivers"), before Abseil's logging is initialized, so ``TF_CPP_MIN_LOG_LEVEL``
does not reach them (abseil/abseil-cpp#1718). The command line therefore
imports TensorFlow, when something first imports it, with file descriptor 2
pointed at a temporary file, and then writes back what was logged without
the Abseil lines ``TF_CPP_MIN_LOG_LEVEL`` would hide (2, the command's
default, hides INFO and WARNING): errors and Python's own messages still
appear, in order. Lines TensorFlow logs later, while a command runs, are
not filtered.

Only the ``keras-resnet`` entry point installs this, and not under
``--debug`` or when the user set ``TF_CPP_MIN_LOG_LEVEL`` to 0.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

# An Abseil line ("I0000 00:00:1795607498.464048    9916 port.cc:153] ...";
# severity I, W, E or F) and the notice Abseil prints before its first line
# when it is not initialized.
_ABSL_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+ +\d+ \S+:\d+\] ")
_NOT_INITIALIZED = "WARNING: All log messages before absl::InitializeLog() is called"
# TF_CPP_MIN_LOG_LEVEL: 1 hides INFO, 2 also WARNING, 3 also ERROR.
_SEVERITY = {"I": 1, "W": 2, "E": 3, "F": 4}


def filter_startup_log(text: str, min_log_level: int = 2) -> str:
    """``text`` without the Abseil lines ``TF_CPP_MIN_LOG_LEVEL`` would hide.

    Other lines (Python warnings, tracebacks) are kept as they are.
    """
    kept = []
    for line in text.splitlines(True):
        if line.startswith(_NOT_INITIALIZED):
            continue
        match = _ABSL_LINE.match(line)
        if match and _SEVERITY[match.group(1)] <= min_log_level:
            continue
        kept.append(line)
    return "".join(kept)


def _min_log_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    except ValueError:
        return 2


@contextlib.contextmanager
def filtered_stderr():
    """Send fd 2 to a temporary file; write back the filtered text on exit."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace")
            text = filter_startup_log(text, _min_log_level())
            if text:
                sys.stderr.write(text)
                sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with filtered_stderr():
            self._loader.exec_module(module)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Wraps the import of the ``tensorflow`` package in ``filtered_stderr``."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # find the real spec, and only once
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow_startup(argv: list[str]) -> None:
    """Install the import hook unless TensorFlow is loaded or logs are wanted."""
    if "--debug" in argv or "tensorflow" in sys.modules:
        return
    if _min_log_level() <= 0:
        return
    if not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())

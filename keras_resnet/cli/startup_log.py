"""Keep TensorFlow's C++ log noise off the command's stderr, for the whole run.

TensorFlow 2.21 logs through Abseil straight to file descriptor 2: INFO
lines while its shared libraries load ("oneDNN custom operations are on",
"Could not find cuda drivers"), before Abseil's logging is initialized, so
``TF_CPP_MIN_LOG_LEVEL`` does not reach them (abseil/abseil-cpp#1718); and
ERROR lines that are not errors of the run: ``failed call to cuInit`` on a
machine without a GPU, ``NodeDef mentions attribute use_unbounded_threadpool``
(a tf.data attribute its own op registry lacks) once per pipeline, and, with
oneDNN on (the command's default) on a CPU without AVX-512, ``oneDNN supports
DT_INT64 only on platforms with AVX-512. Falling back ...`` (TensorFlow then
runs those integer ops with its own kernels, as it does with oneDNN off).

The ``keras-resnet`` entry point therefore points file descriptor 2 at a
pipe for the whole command (``quiet_stderr``). A thread passes what arrives
on to the real stderr line by line, without the Abseil lines
``TF_CPP_MIN_LOG_LEVEL`` would hide (2, the command's default, hides INFO
and WARNING) and without the known-noise lines above: errors, Python's
warnings and tracebacks, and the command's own progress lines still appear,
in order.

Nothing is filtered under ``--debug``, nor when the user set
``TF_CPP_MIN_LOG_LEVEL`` to 0.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading

# An Abseil line ("I0000 00:00:1795607498.464048    9916 port.cc:153] ...";
# severity I, W, E or F) and the notice Abseil prints before its first line
# when it is not initialized.
_ABSL_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+ +\d+ \S+:\d+\] ")
_NOT_INITIALIZED = "WARNING: All log messages before absl::InitializeLog() is called"
# TF_CPP_MIN_LOG_LEVEL: 1 hides INFO, 2 also WARNING, 3 also ERROR.
_SEVERITY = {"I": 1, "W": 2, "E": 3, "F": 4}
# Abseil ERROR lines TensorFlow prints on every healthy run: hidden unless
# TF_CPP_MIN_LOG_LEVEL is 0.
KNOWN_NOISE = re.compile(
    r"failed call to cuInit"
    r"|NodeDef mentions attribute use_unbounded_threadpool"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|oneDNN supports DT_INT64 only on platforms with AVX-512"
)


def is_hidden(line: str, min_log_level: int = 2) -> bool:
    """Whether ``line`` is an Abseil line the command hides at this level."""
    if line.startswith(_NOT_INITIALIZED):
        return min_log_level > 0
    match = _ABSL_LINE.match(line)
    if not match:
        return False
    if _SEVERITY[match.group(1)] <= min_log_level:
        return True
    return min_log_level > 0 and KNOWN_NOISE.search(line) is not None


def filter_startup_log(text: str, min_log_level: int = 2) -> str:
    """``text`` without the Abseil lines the command hides (see ``is_hidden``).

    Other lines (Python warnings, tracebacks) are kept as they are.
    """
    return "".join(
        line for line in text.splitlines(True) if not is_hidden(line, min_log_level)
    )


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


# A line still being written is held back only while it may become a hidden
# one: it starts like an Abseil header or the "not initialized" notice.
_MAYBE_LOG = re.compile(rb"[IWEF](\d|$)|W(A|$)")


class StderrFilter:
    """File descriptor 2 through a pipe and a filtering thread, until ``stop``.

    Args:
        min_log_level: As ``TF_CPP_MIN_LOG_LEVEL``; see ``is_hidden``.
    """

    def __init__(self, min_log_level: int = 2) -> None:
        self.min_log_level = min_log_level
        self._target: int | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Point fd 2 at the pipe and start passing lines on."""
        sys.stderr.flush()
        self._target = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self._thread = threading.Thread(
            target=self._pump, args=(read_end,), name="stderr-filter", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Give fd 2 back and write out what the pipe still holds."""
        if self._target is None:
            return
        sys.stderr.flush()
        os.dup2(self._target, 2)  # closes our write end: the thread sees EOF
        if self._thread is not None:
            # A child process may still hold the pipe; do not wait for it.
            self._thread.join(timeout)
            if self._thread.is_alive():
                return  # the thread still writes to the target: keep it open
        os.close(self._target)
        self._target = None

    def _pump(self, read_end: int) -> None:
        pending = b""
        passing = False  # the current line was already let through
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                pending, passing = self._pass_on(pending + chunk, passing)
        if pending and not is_hidden(pending.decode("utf-8", "replace")):
            self._write(pending)

    def _pass_on(self, data: bytes, passing: bool) -> tuple[bytes, bool]:
        """Write the complete lines of ``data`` that are kept; return the rest."""
        out = []
        while data:
            newline = data.find(b"\n")
            if passing or newline < 0:
                if newline < 0 and not passing and _MAYBE_LOG.match(data):
                    break  # hold it until its end shows what it is
                end = len(data) if newline < 0 else newline + 1
                out.append(data[:end])
                data, passing = data[end:], newline < 0
                continue
            line, data = data[: newline + 1], data[newline + 1 :]
            if not is_hidden(line.decode("utf-8", "replace"), self.min_log_level):
                out.append(line)
        if out:
            self._write(b"".join(out))
        return data, passing

    def _write(self, data: bytes) -> None:
        try:
            os.write(self._target, data)
        except OSError:
            pass  # stderr is gone (a closed pipe): nothing left to tell


# Whether fd 2 was a terminal before quiet_stderr pointed it at a pipe.
_stderr_was_tty: bool | None = None


def stderr_isatty() -> bool:
    """Whether the command's stderr is a terminal (the pipe aside)."""
    if _stderr_was_tty is not None:
        return _stderr_was_tty
    return sys.stderr.isatty()


def wants_filter(argv: list[str]) -> bool:
    """Whether to filter: not under ``--debug`` nor TF_CPP_MIN_LOG_LEVEL=0."""
    if "--debug" in argv or _min_log_level() <= 0:
        return False
    # Shell completion prints only candidates and must answer fast.
    return "_KERAS_RESNET_COMPLETE" not in os.environ


@contextlib.contextmanager
def quiet_stderr(argv: list[str]):
    """Filter fd 2 (see ``StderrFilter``) while the block runs, if wanted."""
    global _stderr_was_tty
    if not wants_filter(argv):
        yield
        return
    _stderr_was_tty = sys.stderr.isatty()
    log_filter = StderrFilter(_min_log_level())
    log_filter.start()
    try:
        yield
    finally:
        log_filter.stop()

"""Progress lines of the commands: one line per epoch, data decoding, exports.

Keras' progress bar (``verbose=1``) rewrites one line with ANSI codes, which
a log file keeps as noise, and ``verbose=2`` prints two lines per epoch. So
when stdout is not a terminal, or ``--verbose 2`` is asked for, the commands
run Keras silently and print ``EpochLine``'s one plain line per epoch, with
the time left. The library reports slow data work (the first decode of an
image archive) through the ``keras_resnet`` logger; ``library_progress``
prints it on stderr.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import sys
import threading
import time
from typing import TYPE_CHECKING

import click

from keras_resnet.cli.output import format_duration

if TYPE_CHECKING:
    from keras_resnet.train.config import TrainConfig

_LIBRARY_LOGGER = "keras_resnet"


def plain_progress(config: TrainConfig, *, verbose_given: bool) -> bool:
    """Whether to print ``EpochLine`` instead of Keras' own progress.

    Args:
        config: The run's resolved config.
        verbose_given: Whether ``verbose`` came from the command line or a
            config file (else it is TrainConfig's default, 1).
    """
    if config.verbose == 2:
        return True
    return config.verbose == 1 and not verbose_given and not sys.stdout.isatty()


def epoch_progress(
    config: TrainConfig, *, verbose_given: bool, prefix: str = ""
) -> tuple[TrainConfig, list]:
    """The config and callbacks that give the progress display asked for.

    Returns:
        ``config`` (with ``verbose=0`` where ``EpochLine`` replaces Keras'
        display) and the callbacks to pass to ``train``.
    """
    if not plain_progress(config, verbose_given=verbose_given):
        return config, []
    return config.replace(verbose=0), [epoch_line_callback(prefix)]


def epoch_line_callback(prefix: str = ""):
    """A Keras callback printing one plain line at the end of each epoch.

    ``[prefix] epoch 3/30 - 41.2s - loss 1.2345 - accuracy 0.5512 -
    val_loss 1.3001 - val_accuracy 0.5300 - 18m32s left``. Its ``prefix``
    attribute may change between runs (``compare`` names the model).
    """
    import keras

    class EpochLine(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.prefix = prefix

        def on_train_begin(self, logs=None):
            self._seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self._seconds.append(time.perf_counter() - self._started)
            total = self.params.get("epochs") or 0
            line = epoch_line(self.prefix, epoch + 1, total, self._seconds, logs)
            click.echo(line)

    return EpochLine()


def epoch_line(
    prefix: str, epoch: int, epochs: int, seconds: list[float], logs: dict | None
) -> str:
    """The text of one ``EpochLine`` (see ``epoch_line_callback``)."""
    parts = [f"{prefix}epoch {epoch}/{epochs}", format_duration(seconds[-1])]
    for key, value in (logs or {}).items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        # Per-layer values (grad_norm/<layer>) go to TensorBoard, not here.
        if key != "learning_rate" and "/" not in key:
            parts.append(f"{key} {number:.4f}")
    left = epochs - epoch
    if left > 0:
        parts.append(f"{format_duration(left * epoch_estimate(seconds))} left")
    return " - ".join(parts)


# Epochs the time-left estimate looks back on.
ESTIMATE_WINDOW = 5


def epoch_estimate(seconds: list[float]) -> float:
    """Seconds the next epoch will take, from those of the epochs so far.

    The median of the last ``ESTIMATE_WINDOW`` epochs after the first (which
    also traces and compiles; it counts only while it is the only one): an
    epoch stalled by a paused process, a sleeping laptop or another job
    does not inflate the estimate for the rest of the run, and a lasting
    change of speed shows within a few epochs.
    """
    return statistics.median((seconds[1:] or seconds)[-ESTIMATE_WINDOW:])


@contextlib.contextmanager
def elapsed_display(message: str, *, stream=None, interval: float = 0.5):
    """While the block runs, ``<message> 12s`` on a terminal's stderr.

    The line is rewritten in place (carriage return, no ANSI codes) and
    erased at the end; nothing is written when stderr is not a terminal.

    Args:
        message: What is being done.
        stream: Where to write (default: stderr, if it is a terminal).
        interval: Seconds between updates.
    """
    from keras_resnet.cli.startup_log import stderr_isatty

    if stream is None:
        if not stderr_isatty():
            yield
            return
        stream = sys.stderr
    done = threading.Event()
    started = time.perf_counter()
    width = 0

    def show() -> None:
        nonlocal width
        while True:
            text = f"{message} {format_duration(time.perf_counter() - started)}"
            width = max(width, len(text))
            stream.write(f"\r{text}")
            stream.flush()
            if done.wait(interval):
                return

    thread = threading.Thread(target=show, name="elapsed-display", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        stream.write("\r" + " " * width + "\r")
        stream.flush()


class _EchoHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:  # a logging handler must not raise
            self.handleError(record)


@contextlib.contextmanager
def library_progress():
    """Print the library's INFO messages (decode progress) on stderr meanwhile."""
    logger = logging.getLogger(_LIBRARY_LOGGER)
    handler = _EchoHandler()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)

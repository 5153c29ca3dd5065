"""The engine's own callback: it keeps the run directory current.

``RunMonitor`` writes the history after every epoch, saves ``best.keras`` when
validation accuracy improves, backs up the training state, and turns a NaN
loss or a first Ctrl-C into a clean stop that the engine reports.
"""

from __future__ import annotations

import math
import os
import pathlib
import signal
import threading
import time
from typing import Any

import keras

from keras_resnet.callbacks import GradientNormRecorder
from keras_resnet.run_layout import BEST_MODEL_FILE
from keras_resnet.train import rundir
from keras_resnet.train.optim import current_learning_rate


class RunMonitor(keras.callbacks.Callback):
    """Keep a run directory current after every epoch; stop cleanly on a NaN
    loss or a first Ctrl-C.

    After each completed epoch it appends a history row, writes
    ``history.csv``/``history.json``, saves ``best.keras`` when validation
    accuracy improves, and backs up the training state (weights, optimizer,
    augmentation counters, history, gradient records). An epoch cut short
    by a NaN loss or an interrupt is not backed up, so the last good backup
    stays.

    Args:
        run_dir: The run directory.
        classifier: The model saved as ``best.keras``.
        recorder: The run's ``GradientNormRecorder`` (its records are backed
            up), or None.
        state: Backup state to continue from (``rows``, ``best_epoch``, ...).
        handle_sigint: Turn the first SIGINT into a stop after the batch.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        classifier: keras.Model,
        *,
        recorder: GradientNormRecorder | None = None,
        state: dict[str, Any] | None = None,
        handle_sigint: bool = True,
    ):
        super().__init__()
        state = state or {}
        self.run_dir = pathlib.Path(run_dir)
        self.classifier = classifier
        self.recorder = recorder
        self.rows: list[dict[str, Any]] = list(state.get("rows", []))
        self.best_epoch: int | None = state.get("best_epoch")
        self.best_value: float = state.get("best_value", -math.inf)
        self.handle_sigint = handle_sigint
        self.nan_at: tuple[int, int] | None = None
        self.interrupted = False
        self._epoch = 0
        self._epoch_start = 0.0
        self._epoch_rate: float | None = None
        self._previous_handler = None

    @property
    def completed_epochs(self) -> int:
        """Epochs completed and backed up."""
        return len(self.rows)

    def on_train_begin(self, logs=None):
        if self.handle_sigint and threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGINT, self._on_sigint)

    def on_train_end(self, logs=None):
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_start = time.perf_counter()
        # The rate of the epoch's first step: read before any update of it.
        self._epoch_rate = current_learning_rate(self.model.optimizer)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.nan_at = (self._epoch, batch)
            self.model.stop_training = True
        if self.interrupted:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.nan_at is not None or self.interrupted:
            return
        row = self._row(epoch, dict(logs or {}))
        self.rows.append(row)
        rundir.write_history(self.run_dir, self.rows)
        self._update_best(epoch + 1, row)
        rundir.save_backup(self.run_dir, self.model, self.backup_state())

    def backup_state(self) -> dict[str, Any]:
        """What a resumed run needs besides the weights."""
        return {
            "epoch": self.completed_epochs,
            "rows": self.rows,
            "best_epoch": self.best_epoch,
            "best_value": self.best_value,
            "gradient_records": self.recorder.records if self.recorder else [],
            "gradient_train": self.recorder.train if self.recorder else [],
        }

    def _row(self, epoch: int, logs: dict[str, Any]) -> dict[str, Any]:
        row = {"epoch": epoch + 1}
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            row[key] = float(logs[key]) if key in logs else None
        row["learning_rate"] = self._epoch_rate
        row["epoch_time"] = time.perf_counter() - self._epoch_start
        row.update({k: float(v) for k, v in logs.items() if k.startswith("grad_norm/")})
        return row

    def _update_best(self, epoch: int, row: dict[str, Any]) -> None:
        value = (
            row["val_accuracy"] if row["val_accuracy"] is not None else row["accuracy"]
        )
        if value is None or value <= self.best_value:
            return
        self.best_value, self.best_epoch = float(value), epoch
        rundir.save_model_atomically(self.classifier, self.run_dir / BEST_MODEL_FILE)

    def _on_sigint(self, signum, frame):
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True
        print(
            "\nInterrupt received: finishing the current batch and saving "
            "(press Ctrl-C again to abort at once).",
            flush=True,
        )

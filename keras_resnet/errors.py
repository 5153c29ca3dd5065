"""Errors the package reports to users as one line.

The command line turns every ``KerasResNetError`` (and ``ValueError`` from
argument validation) into ``Error: <message>`` and exit code 1, without a
traceback unless ``--debug`` is given.
"""


class KerasResNetError(Exception):
    """Base class of run-time errors that carry a user-facing message."""


class DataError(KerasResNetError, ValueError):
    """A data source is missing, corrupt or inconsistent (names the file)."""


class RunDirectoryError(KerasResNetError):
    """A run directory is missing, incomplete, or would be overwritten."""


class RunNotFoundError(RunDirectoryError):
    """A run to continue does not exist: a bad argument (exit code 2)."""

    exit_code = 2


class RunLockedError(RunDirectoryError):
    """Another process is writing the run directory (names its pid)."""


class TrainingError(KerasResNetError):
    """Training stopped abnormally (for example a NaN loss)."""


class TrainingInterrupted(KerasResNetError):
    """Training was interrupted by the user; progress was saved (exit 130).

    Attributes:
        run_dir: The run directory holding the backup (None if unknown).
        completed_epochs: Epochs completed and backed up.
    """

    exit_code = 130

    def __init__(self, message: str, run_dir=None, completed_epochs: int = 0):
        super().__init__(message)
        self.run_dir = run_dir
        self.completed_epochs = completed_epochs

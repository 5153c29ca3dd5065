"""Writing a run directory: checks, the lock, atomic files and backups.

The layout itself (file names, completion, reading) is owned by
``keras_resnet.run_layout``. Every file is written atomically (a temporary
file renamed over the target), so a run killed at any moment leaves either
the old or the new version. See the run-directory table in
docs/architecture.md.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import os
import pathlib
import shutil
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from keras_resnet.errors import (
    RunDirectoryError,
    RunLockedError,
    RunNotFoundError,
    TrainingInterrupted,
)
from keras_resnet.run_layout import (
    BACKUP_DIR,
    BACKUP_STATE_FILE,
    CONFIG_FILE,
    HISTORY_CSV_FILE,
    HISTORY_JSON_FILE,
    HISTORY_KEYS,
    LOCK_FILE,
    RUN_FILES,
    TENSORBOARD_DIR,
    has_config,
    is_completed,
    read_json,
    write_json,
)
from keras_resnet.train.config import TrainConfig

if TYPE_CHECKING:
    import keras


def default_run_dir(model: str) -> pathlib.Path:
    """``runs/<model>-<YYYYmmdd-HHMMSS>`` under the current directory."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return pathlib.Path("runs") / f"{model}-{stamp}"


def check_run_dir(
    path: str | os.PathLike, config: TrainConfig, *, resume: bool, overwrite: bool
) -> None:
    """Check that a run may be written to ``path``; change nothing.

    Args:
        path: The run directory.
        config: The new run's configuration.
        resume: Continue the run found there.
        overwrite: Allow replacing a run found there.

    Raises:
        RunNotFoundError: ``resume`` and ``path`` holds no run.
        RunLockedError: Another live process holds the directory's lock.
        RunDirectoryError: A completed or unfinished run would be replaced
            without ``overwrite``, a completed run has nothing to resume, or
            the run to resume has a different configuration.
    """
    path = pathlib.Path(path)
    holder = lock_holder(path)
    if holder is not None and holder != f"pid {os.getpid()}":  # not ours
        raise RunLockedError(_locked_message(path, holder))
    if resume:
        _check_resumable(path, config)
        return
    if is_completed(path) and not overwrite:
        raise RunDirectoryError(
            f"{path} holds a completed run; pass overwrite=True "
            "to replace it or choose another output directory"
        )
    if _has_backup(path) and not overwrite:
        raise RunDirectoryError(
            f"{path} holds an unfinished run; pass resume=True to "
            "continue it or overwrite=True to start over"
        )


def require_run(path: str | os.PathLike) -> None:
    """Raise ``RunNotFoundError`` unless ``path`` holds a run (its config)."""
    path = pathlib.Path(path)
    if not has_config(path):
        what = "does not exist" if not path.exists() else f"holds no {CONFIG_FILE}"
        raise RunNotFoundError(
            f"cannot resume {path}: it {what}, so it is not a run directory. "
            f"Received: output_dir={os.fspath(path)!r}"
        )


def _check_resumable(path: pathlib.Path, config: TrainConfig) -> None:
    require_run(path)
    if is_completed(path) and not _has_backup(path):
        saved = read_config(path).epochs
        hint = ""
        if config.epochs != saved:
            hint = (
                f", and epochs cannot change on resume ({saved} -> "
                f"{config.epochs}): start a new run to train longer"
            )
        raise RunDirectoryError(
            f"{path} holds a completed run of {saved} epoch(s); there is nothing "
            f"to resume{hint}"
        )
    _check_same_config(path, config)


def clear_run(path: str | os.PathLike) -> None:
    """Delete the files of a run in ``path`` (only the run's own files)."""
    _clear(pathlib.Path(path))


def prepare_run_dir(
    config: TrainConfig, *, resume: bool, overwrite: bool
) -> pathlib.Path:
    """Check, then create (or clear, with ``overwrite``) a run directory.

    The engine itself checks first and clears only once the new run has
    loaded its data and built its model; this is the one-step form.

    Args:
        config: The run's configuration (``output_dir``, default
            ``runs/<model>-<timestamp>``).
        resume: Continue the run found there from its last backup.
        overwrite: Allow replacing a run.

    Returns:
        The run directory.

    Raises:
        RunDirectoryError: See ``check_run_dir``.
    """
    path = pathlib.Path(config.output_dir or default_run_dir(config.model))
    check_run_dir(path, config, resume=resume, overwrite=overwrite)
    if overwrite and not (resume and _has_backup(path)):
        _clear(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- the lock and clean-up on failure ----------------------------------------


def lock_holder(path: str | os.PathLike) -> str | None:
    """Who holds the lock of run directory ``path`` (``"pid N"``), or None.

    A lock left by a process that no longer runs (on this host) is stale and
    counts as free.
    """
    text = _read_lock(pathlib.Path(path) / LOCK_FILE)
    if text is None:
        return None
    pid, _, host = text.partition("@")
    if host and host != socket.gethostname():
        return f"pid {pid} on {host}"  # cannot check another host's process
    if not pid.isdigit() or not _process_alive(int(pid)):
        return None
    return f"pid {pid}"


@contextlib.contextmanager
def locked_run_dir(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """Create ``path`` if needed and hold its lock while the block runs.

    The lock is the file ``.lock`` holding ``<pid>@<host>``, created
    atomically (a link that fails if it exists); a lock whose process is
    gone is taken over. Stale temporary files of an earlier, killed run are
    removed once the lock is held. If the block raises, the temporary files
    are removed, and a directory this call created is deleted again unless
    an epoch was backed up or the run was interrupted (its progress kept).

    Raises:
        RunLockedError: Another live process holds the lock.
    """
    path = pathlib.Path(path)
    created = _make_dirs(path)
    try:
        _acquire_lock(path)
    except BaseException:
        _remove_created(path, created, only_if_empty=True)
        raise
    try:
        remove_temporary_files(path)
        yield path
    except BaseException as error:
        remove_temporary_files(path)
        if created and not (
            isinstance(error, TrainingInterrupted) or _has_backup(path)
        ):
            _remove_created(path, created, only_if_empty=False)
        raise
    finally:
        _release_lock(path)


def remove_temporary_files(path: str | os.PathLike) -> None:
    """Delete the temporary files a killed or failed run may leave in ``path``."""
    path = pathlib.Path(path)
    for name in RUN_FILES:
        # write_json and write_history: NAME.tmp; .keras files: STEM.tmp.keras
        stem, suffix = os.path.splitext(name)
        temporary = stem + ".tmp.keras" if suffix == ".keras" else name + ".tmp"
        (path / temporary).unlink(missing_ok=True)
    folder = path / BACKUP_DIR
    if folder.is_dir():
        (folder / (BACKUP_STATE_FILE + ".tmp")).unlink(missing_ok=True)
        for tmp in folder.glob("*.tmp.weights.h5"):
            tmp.unlink(missing_ok=True)


def _make_dirs(path: pathlib.Path) -> list[pathlib.Path]:
    """``mkdir -p path``; returns the folders it created, deepest first."""
    created = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        created.append(folder)
        folder = folder.parent
    path.mkdir(parents=True, exist_ok=True)
    return created


def _remove_created(path, created: list[pathlib.Path], *, only_if_empty: bool):
    if not created:
        return
    if not only_if_empty:
        shutil.rmtree(path, ignore_errors=True)
    for folder in created:  # parents only if nothing else appeared in them
        try:
            folder.rmdir()
        except FileNotFoundError:
            continue
        except OSError:
            break


def _acquire_lock(path: pathlib.Path) -> None:
    lock = path / LOCK_FILE
    mine = f"{os.getpid()}@{socket.gethostname()}"
    tmp = path / f"{LOCK_FILE}.{os.getpid()}.tmp"
    tmp.write_text(mine, encoding="utf-8")
    try:
        for _ in range(3):
            try:
                # A hard link is created atomically with its content, or not
                # at all if the lock exists (O_CREAT | O_EXCL semantics).
                os.link(tmp, lock)
                return
            except FileExistsError:
                holder = lock_holder(path)
                if holder is not None:
                    raise RunLockedError(_locked_message(path, holder)) from None
                lock.unlink(missing_ok=True)  # stale: its process is gone
        raise RunLockedError(_locked_message(path, "another process"))
    finally:
        tmp.unlink(missing_ok=True)


def _release_lock(path: pathlib.Path) -> None:
    lock = path / LOCK_FILE
    text = _read_lock(lock)
    if text is not None and text.partition("@")[0] == str(os.getpid()):
        lock.unlink(missing_ok=True)


def _read_lock(lock: pathlib.Path) -> str | None:
    try:
        return lock.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError):
        return ""


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    except OSError:
        return False
    return True


def _locked_message(path: pathlib.Path, holder: str) -> str:
    return (
        f"{path} is in use by another fit ({holder}, lock file {path / LOCK_FILE}); "
        "wait for it to finish or choose another output directory"
    )


def write_history(run_dir: pathlib.Path, rows: list[dict[str, Any]]) -> None:
    """Write ``history.json`` (a dict of equal-length lists) and ``history.csv``."""
    keys = list(HISTORY_KEYS) + sorted(
        {key for row in rows for key in row} - set(HISTORY_KEYS)
    )
    columns = {key: [row.get(key) for row in rows] for key in keys}
    write_json(run_dir / HISTORY_JSON_FILE, columns)
    tmp = run_dir / (HISTORY_CSV_FILE + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, run_dir / HISTORY_CSV_FILE)


def write_config(run_dir: pathlib.Path, config: TrainConfig) -> None:
    """Write the resolved configuration to ``config.yaml``."""
    tmp = run_dir / (CONFIG_FILE + ".tmp")
    config.to_yaml(tmp)
    os.replace(tmp, run_dir / CONFIG_FILE)


def read_config(run_dir: str | os.PathLike) -> TrainConfig:
    """The ``TrainConfig`` saved in a run directory.

    Raises:
        RunDirectoryError: If ``config.yaml`` is missing.
    """
    path = pathlib.Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise RunDirectoryError(f"{path} not found: not a run directory")
    return TrainConfig.from_yaml(path)


def dataset_record(splits) -> dict[str, Any]:
    """The ``dataset.json`` content for a ``DatasetSplits``."""
    return {
        "name": splits.name,
        "class_names": list(splits.class_names),
        "image_shape": list(splits.image_shape),
        "num_classes": splits.num_classes,
        "train_size": splits.train_size,
        "validation_size": splits.validation_size,
        "test_size": splits.test_size,
        "mean": [float(m) for m in splits.mean],
        "std": [float(s) for s in splits.std],
    }


# -- models and backups ---------------------------------------------------------------


def save_model_atomically(model: keras.Model, path: str | os.PathLike) -> None:
    """Save ``model`` with stock Keras layers only, through a temporary file.

    Every ``.keras`` file a run writes goes through here: the fused batch
    norm is a training-time speed detail, so it is swapped for Keras' own
    layer (same weights, see ``to_stock_layers``) and plain Keras loads the
    file without this package. The file is written to ``<stem>.tmp.keras``
    and renamed into place; the temporary file is removed if saving fails.
    """
    # Imported here: checking and locking a run directory (fit's start-up)
    # must not import Keras.
    from keras_resnet.models.layers import to_stock_layers

    path = pathlib.Path(path)
    tmp = path.with_name(path.stem + ".tmp.keras")
    try:
        to_stock_layers(model).save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_backup(run_dir: pathlib.Path, model, state: dict[str, Any]) -> None:
    """Save the training model (weights, optimizer, augmentation counters)
    and ``state`` after an epoch, replacing the previous backup atomically.

    The weights go to a new file named after the epoch; ``state.json``, which
    names it, is renamed into place last, so a kill at any moment leaves a
    complete older or newer backup.
    """
    folder = run_dir / BACKUP_DIR
    folder.mkdir(exist_ok=True)
    name = f"epoch{state['epoch']:05d}.weights.h5"
    tmp = folder / f"{name}.tmp.weights.h5"
    model.save_weights(tmp)
    os.replace(tmp, folder / name)
    write_json(folder / BACKUP_STATE_FILE, {**state, "weights": name})
    for old in folder.glob("epoch*.weights.h5"):
        if old.name != name:
            old.unlink()


def load_backup(run_dir: pathlib.Path) -> dict[str, Any] | None:
    """The state of the last backup (with ``weights_path``), or None."""
    path = run_dir / BACKUP_DIR / BACKUP_STATE_FILE
    if not path.is_file():
        return None
    state = read_json(path)
    state["weights_path"] = os.fspath(run_dir / BACKUP_DIR / state["weights"])
    return state


def _has_backup(path: pathlib.Path) -> bool:
    return (path / BACKUP_DIR / BACKUP_STATE_FILE).is_file()


def _check_same_config(path: pathlib.Path, config: TrainConfig) -> None:
    saved = read_config(path).to_dict()
    ignored = {"verbose", "output_dir"}
    changed = [
        f"{key} ({saved.get(key)!r} -> {value!r})"
        for key, value in sorted(config.to_dict().items())
        if key not in ignored and saved.get(key) != value
    ]
    if changed:
        hint = "use the command that started the run"
        if saved.get("epochs") != config.epochs:
            hint = (
                "epochs cannot change on resume (the learning-rate schedule "
                "depends on it); start a new run to train longer"
            )
        raise RunDirectoryError(
            f"cannot resume {path}: the configuration differs in "
            f"{', '.join(changed)}; {hint}"
        )


def _clear(path: pathlib.Path) -> None:
    if not path.is_dir():
        return
    for name in RUN_FILES:
        (path / name).unlink(missing_ok=True)
    for folder in (path / BACKUP_DIR, path / TENSORBOARD_DIR):
        _remove_tree(folder)


def _remove_tree(folder: pathlib.Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def remove_backup(run_dir: pathlib.Path) -> None:
    """Delete the backup of a completed run (weights and optimizer state)."""
    _remove_tree(run_dir / BACKUP_DIR)

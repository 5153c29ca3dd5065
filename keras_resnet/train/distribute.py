"""Distribution: TensorFlow's mirrored strategy on one host, Keras'
data-parallel distribution on JAX across hosts, and which process writes.

``data_parallel`` runs one process per host (JAX backend). Each process
builds the same global batch stream as a one-process run with the same
seed and feeds its contiguous slice of every global batch; Keras'
``DataParallel`` over every device of every process all-reduces the
gradients, so the model sees the global batch. Process 0 alone writes the
run directory; the others compute the same steps (the collectives need
them) and write into a scratch folder removed at the end. See
docs/distributed.md.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pathlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from keras_resnet.errors import TrainingError
from keras_resnet.inference import pad_to_equal_batches, predict_in_equal_batches
from keras_resnet.train.config import (
    REMOVED_STRATEGIES,
    check_strategy,
    check_strategy_backend,
)

# A process that sends no heartbeat for this long counts as lost, and the
# runtime then stops every other process (JAX's own default is 100 s).
HEARTBEAT_TIMEOUT_ENV = "KERAS_RESNET_HEARTBEAT_TIMEOUT"
DEFAULT_HEARTBEAT_TIMEOUT = 60


_JOB_ADDRESSES = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
_NUM_PROCESSES = "KERAS_DISTRIBUTION_NUM_PROCESSES"
_PROCESS_ID = "KERAS_DISTRIBUTION_PROCESS_ID"

_runtime: dict[str, Any] = {"multi_process": False}


def setup(strategy: str, batch_size: int) -> None:
    """Start what ``strategy`` needs before any computation, and check the batch.

    For ``data_parallel`` this starts JAX's distributed runtime when the
    ``KERAS_DISTRIBUTION_*`` variables (or a cluster JAX detects: SLURM,
    Open MPI, Kubernetes, Cloud TPU) describe several processes; once per
    process. Other strategies need nothing here.

    Args:
        strategy: The run's ``strategy``.
        batch_size: The global batch size.

    Raises:
        ValueError: An unknown or removed strategy; ``data_parallel`` on a backend other
            than JAX; a batch size that the devices of all processes do not
            divide.
    """
    check_strategy(strategy)
    if strategy != "data_parallel":
        return
    check_strategy_backend(strategy, keras.backend.backend())
    _initialize()
    devices = len(keras.distribution.list_devices())
    processes = process_count()
    if batch_size % devices:
        raise ValueError(
            f"batch_size must be a multiple of the {devices} devices that "
            f"data_parallel splits each global batch over ({processes} "
            f"process(es) x {devices // processes} device(s)). "
            f"Received: batch_size={batch_size}"
        )


def resolve_strategy(name: str):
    """The distribution of strategy ``name``: a ``tf.distribute`` strategy,
    a ``keras.distribution.DataParallel`` (set as Keras' distribution), or
    None for none.

    ``auto`` is mirrored on TensorFlow with more than one GPU, and none
    otherwise; ``data_parallel`` needs ``setup`` first.

    Args:
        name: ``"auto"``, ``"default"``, ``"mirrored"`` or ``"data_parallel"``.

    Raises:
        ValueError: For an unknown or removed name, a strategy the backend
            does not support, or ``auto`` with a multi-task ``TF_CONFIG``.
    """
    check_strategy(name)
    if name == "data_parallel":
        distribution = keras.distribution.DataParallel(
            devices=keras.distribution.list_devices(),
            # Every process already feeds its own slice (see shard_inputs).
            auto_shard_dataset=False,
        )
        keras.distribution.set_distribution(distribution)
        return distribution
    backend = keras.backend.backend()
    check_strategy_backend(name, backend)
    if backend != "tensorflow":
        return None
    import tensorflow as tf

    if name == "auto":
        if _tf_cluster_size() > 1:
            raise ValueError(
                "TF_CONFIG describes several TensorFlow workers, but strategy "
                f"multiworker was removed: {REMOVED_STRATEGIES['multiworker']}. "
                f"Received: TF_CONFIG with {_tf_cluster_size()} tasks"
            )
        if len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            return None
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=_replica_devices(tf))
    return None


def strategy_scope(strategy):
    """``strategy.scope()``, or a no-op context without a strategy."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def reset_distribution() -> None:
    """Unset the Keras distribution a ``data_parallel`` run set (process-wide)."""
    if _data_parallel() is not None:
        keras.distribution.set_distribution(None)


def num_replicas(strategy) -> int:
    """Devices that each global batch is split over."""
    if strategy is None:
        return 1
    if isinstance(strategy, keras.distribution.DataParallel):
        return int(np.prod(strategy.device_mesh.shape))
    return strategy.num_replicas_in_sync


def process_count() -> int:
    """Processes of this run (1 unless a multi-process runtime was started)."""
    if not _runtime["multi_process"]:
        return 1
    import jax

    return jax.process_count()


def process_index() -> int:
    """This process's index (0 unless a multi-process runtime was started)."""
    if not _runtime["multi_process"]:
        return 0
    import jax

    return jax.process_index()


def is_chief() -> bool:
    """Whether this process writes the run directory: process 0 of a
    multi-process run, and every single-process run."""
    return process_index() == 0


@contextlib.contextmanager
def scratch_dir() -> Iterator[pathlib.Path]:
    """A temporary run directory for a process that is not the chief,
    removed afterwards."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="keras-resnet-worker-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def shared_backup(output_dir: str | None, resume: bool) -> dict[str, Any] | None:
    """The backup a process other than the chief resumes from.

    Every process restores the same state, so every process reads the run
    directory's backup: it must be on storage all hosts can read.

    Raises:
        keras_resnet.errors.RunNotFoundError: ``resume`` and no run there.
    """
    if not resume:
        return None
    from keras_resnet.train import rundir

    rundir.require_run(output_dir)
    return rundir.load_backup(pathlib.Path(output_dir))


def shard_inputs(data, strategy):
    """This process's part of every batch of ``data`` under ``data_parallel``.

    Each batch of ``data`` (a ``tf.data`` pipeline or a ``PyDataset``) is a
    global batch: it is cut to a multiple of the device count (only a last
    evaluation batch ever is), and process ``i`` of ``n`` keeps the ``i``-th
    of ``n`` contiguous slices. Other strategies get ``data`` back.
    """
    if data is None or not isinstance(strategy, keras.distribution.DataParallel):
        return data
    devices = num_replicas(strategy)
    if devices == 1:
        return data
    if isinstance(data, keras.utils.PyDataset):
        return _ProcessShard(data, process_index(), process_count(), devices)
    return _shard_tf(data, process_index(), process_count(), devices)


def shard_by_data(dataset, strategy=None):
    """A ``tf.data`` pipeline for a ``tf.distribute`` strategy: shard by
    element (in-memory data has no files to shard by); ``data_parallel``
    slices batches instead (``shard_inputs``)."""
    import tensorflow as tf

    if isinstance(strategy, keras.distribution.DataParallel):
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options)


def predict(model: keras.Model, images: np.ndarray, batch_size: int) -> np.ndarray:
    """``model``'s outputs for ``images`` as one NumPy array, on every process.

    Under ``data_parallel`` every process computes all outputs with the
    replicated weights (Keras' ``predict`` would return batch-sharded arrays
    that no single process can read).
    """
    if _data_parallel() is None:
        return predict_in_equal_batches(model, images, batch_size)
    import jax

    @jax.jit
    def forward(trainable, non_trainable, x):
        outputs, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        return outputs

    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    padded, size = pad_to_equal_batches(images, batch_size)
    chunks = [
        np.asarray(forward(trainable, non_trainable, padded[i : i + size]))
        for i in range(0, len(padded), size)
    ]
    return np.concatenate(chunks)[: len(images)]


@contextlib.contextmanager
def process_failures() -> Iterator[None]:
    """End a failed multi-process run promptly, with one clear line.

    A collective that fails because another process is gone becomes a
    ``TrainingError``. After any failure the process skips JAX's shutdown
    barrier at exit (it would wait for processes that never arrive, and
    then abort with a page of C++ logs), so the other processes see this
    one leave and stop too. Single-process runs are not affected.
    """
    try:
        yield
    except BaseException as error:
        if not _runtime["multi_process"]:
            raise
        if not _runtime.get("failed"):
            _runtime["failed"] = True
            atexit.register(_exit_without_barrier)
        if not _is_runtime_error(error):
            raise
        raise TrainingError(
            f"process {process_index()} of {process_count()}: a collective "
            "failed, most likely because another process of the run stopped "
            f"({str(error).strip().splitlines()[0][:200]}); restart every "
            "process with --resume to continue from the last backup"
        ) from None


def _exit_without_barrier() -> None:
    # Registered after JAX's own exit hook, so it runs first (LIFO).
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(1)


def _is_runtime_error(error: BaseException) -> bool:
    """Whether ``error`` (or an error it was raised from) is a failed collective.

    A collective fails as a ``JaxRuntimeError``; where JAX or Keras re-raise
    it as another type (a ``ValueError`` while an input is gathered, seen
    when a process dies while the other compiles), its cause or context
    still is one, or its message names Gloo, the CPU collectives library.
    """
    try:
        from jax.errors import JaxRuntimeError
    except ImportError:  # older JAX
        from jaxlib.xla_extension import XlaRuntimeError as JaxRuntimeError
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, JaxRuntimeError) or "Gloo" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


class _ProcessShard(keras.utils.PyDataset):
    """A ``PyDataset`` of this process's slices of another one's batches."""

    def __init__(self, data, index: int, count: int, devices: int):
        super().__init__()
        self._data = data
        self._index, self._count, self._devices = index, count, devices

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, index: int):
        batch = self._data[index]
        part = _slice(len(batch[0]), self._index, self._count, self._devices)
        return tuple(x[part] for x in batch)

    def epoch_callback(self) -> keras.callbacks.Callback:
        """The wrapped loader's epoch callback (see ``ArrayLoader``)."""
        return self._data.epoch_callback()


def _slice(size: int, index: int, count: int, devices: int) -> slice:
    usable = size - size % devices
    share = usable // count
    return slice(index * share, (index + 1) * share)


def _shard_tf(dataset, index: int, count: int, devices: int):
    import tensorflow as tf

    def take(*batch):
        usable = tf.shape(batch[0])[0] // devices * devices
        share = usable // count
        return tuple(x[index * share : (index + 1) * share] for x in batch)

    return dataset.map(take)


def _initialize() -> None:
    """Start JAX's distributed runtime once, if several processes are asked for.

    Reads ``KERAS_DISTRIBUTION_*`` as ``keras.distribution.initialize`` does
    and calls ``jax.distributed.initialize`` itself, to pass the heartbeat
    timeout that bounds how long a lost process goes unnoticed. Without the
    variables, JAX looks for a cluster (SLURM, Open MPI, Kubernetes, Cloud
    TPU); with none found this stays one process over all local devices.
    """
    if _runtime.get("started"):
        return
    import jax

    addresses = os.environ.get(_JOB_ADDRESSES) or None
    count = _env_int(_NUM_PROCESSES)
    index = _env_int(_PROCESS_ID)
    if count == 1:
        _runtime["started"] = True
        return
    if (
        addresses
        and "," in addresses
        and count not in (None, len(addresses.split(",")))
    ):
        raise ValueError(
            f"{_JOB_ADDRESSES} lists {len(addresses.split(','))} addresses but "
            f"{_NUM_PROCESSES}={count}. Received: {_JOB_ADDRESSES}={addresses!r}"
        )
    # CPU processes all-reduce over TCP with gloo (GPUs and TPUs use their own).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(
            coordinator_address=addresses.split(",")[0] if addresses else None,
            num_processes=count,
            process_id=index,
            heartbeat_timeout_seconds=_env_int(HEARTBEAT_TIMEOUT_ENV)
            or DEFAULT_HEARTBEAT_TIMEOUT,
        )
    except ValueError:
        if addresses or count is not None or index is not None:
            raise
        # No variables and no cluster JAX recognises: one process.
        _runtime["started"] = True
        return
    _runtime["started"] = True
    _runtime["multi_process"] = True


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"{name} must be an integer. Received: {name}={value!r}"
        ) from None


def _data_parallel():
    distribution = keras.distribution.distribution()
    return (
        distribution
        if isinstance(distribution, keras.distribution.DataParallel)
        else None
    )


def _replica_devices(tf) -> list[str] | None:
    # Every GPU; without one, every logical CPU (MirroredStrategy's own
    # default would use a single CPU).
    if tf.config.list_logical_devices("GPU"):
        return None
    cpus = tf.config.list_logical_devices("CPU")
    return [device.name for device in cpus] if len(cpus) > 1 else None


def _tf_cluster_size() -> int:
    try:
        config = json.loads(os.environ.get("TF_CONFIG", "") or "{}")
    except ValueError:
        return 0
    return sum(len(tasks) for tasks in config.get("cluster", {}).values())

"""Distribution strategies (TensorFlow backend) and which worker writes files."""

from __future__ import annotations

import contextlib
import json
import os

import keras


def resolve_strategy(name: str):
    """The ``tf.distribute`` strategy for ``name``, or None for no strategy.

    ``auto`` picks multi-worker when ``TF_CONFIG`` describes more than one
    task, mirrored with more than one GPU, and no strategy otherwise. On the
    JAX backend only ``auto`` and ``default`` are accepted.

    Args:
        name: ``"auto"``, ``"default"``, ``"mirrored"`` or ``"multiworker"``.

    Raises:
        ValueError: For an unknown name, or a tf.distribute strategy on
            another backend.
    """
    if name not in ("auto", "default", "mirrored", "multiworker"):
        raise ValueError(
            "strategy must be one of auto, default, mirrored, multiworker. "
            f"Received: strategy={name!r}"
        )
    if keras.backend.backend() != "tensorflow":
        if name in ("mirrored", "multiworker"):
            raise ValueError(
                "mirrored and multiworker strategies need the tensorflow "
                f"backend. Received: strategy={name!r}"
            )
        return None
    import tensorflow as tf

    if name == "auto":
        if _cluster_size() > 1:
            name = "multiworker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            return None
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=_replica_devices(tf))
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return None


def strategy_scope(strategy):
    """``strategy.scope()``, or a no-op context without a strategy."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def is_chief() -> bool:
    """Whether this process writes the run directory (multi-worker: the
    ``chief`` task, or worker 0 when there is none)."""
    config = _tf_config()
    task = config.get("task") or {}
    task_type, index = task.get("type"), task.get("index", 0)
    if not task_type:
        return True
    if task_type == "chief":
        return True
    return (
        task_type == "worker"
        and index == 0
        and "chief" not in config.get("cluster", {})
    )


def shard_by_data(dataset, strategy=None):
    """Shard a ``tf.data`` pipeline by element across workers (in-memory
    data has no files to shard by).

    Under multi-worker training the batches become float32: Keras all-reduces
    the first batch across workers to build the model, and the collective
    ops have no uint8 kernel.
    """
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        dataset = dataset.map(
            lambda x, y: (tf.cast(x, tf.float32), tf.cast(y, tf.float32))
        )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options)


def _replica_devices(tf) -> list[str] | None:
    # Every GPU; without one, every logical CPU (MirroredStrategy's own
    # default would use a single CPU).
    if tf.config.list_logical_devices("GPU"):
        return None
    cpus = tf.config.list_logical_devices("CPU")
    return [device.name for device in cpus] if len(cpus) > 1 else None


def _tf_config() -> dict:
    try:
        return json.loads(os.environ.get("TF_CONFIG", "") or "{}")
    except ValueError:
        raise ValueError(
            f"TF_CONFIG is not valid JSON. Received: TF_CONFIG={os.environ['TF_CONFIG']!r}"
        ) from None


def _cluster_size() -> int:
    cluster = _tf_config().get("cluster", {})
    return sum(len(tasks) for tasks in cluster.values())

"""The gradient instrument: a Keras callback usable with any ``model.fit``.

``GradientNormRecorder`` records per-layer gradient norms on a fixed probe
set, and the per-epoch mean and maximum of the norms of the gradients the
optimizer applied. It imports nothing above the models (the engine's own
callback, which keeps the run directory current, is
``keras_resnet.train.monitor.RunMonitor``).
"""

from __future__ import annotations

import importlib.util
import math
import os
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from keras_resnet._validation import check_int
from keras_resnet.models.summary import iter_layers
from keras_resnet.run_layout import write_json


class GradientNormRecorder(keras.callbacks.Callback):
    """Record the L2 norm of the training-loss gradient of every kernel.

    **Probe norms.** On a fixed probe set it computes the gradient of the
    mean ``loss`` over the whole probe with respect to every trainable
    conv/dense kernel of ``model`` (nested models flattened, keyed by layer
    name in depth order): with ``tf.GradientTape`` on TensorFlow and
    ``jax.grad`` on JAX, in chunks of ``batch_size`` images whose gradients
    are averaged (weighted by chunk size), so memory stays bounded. Each
    chunk is normalized by its own batch statistics, as a training batch of
    that size is. The forward pass runs through
    ``model.stateless_call(..., training=True)``, so BatchNorm uses batch
    statistics as in training, yet no variable (weights, BatchNorm moving
    statistics, RNG state) is changed: training is unaffected.

    A record ``(epoch=e, step=s)`` is measured before update ``s`` of 0-based
    epoch ``e``; the end of epoch ``e`` is ``(e + 1, 0)``. Records are taken
    before the first update, before the updates in ``steps`` of the first
    epoch, and at the end of every ``every_epochs``-th epoch.

    **Training norms.** When the model's optimizer tracks applied gradients
    (``keras_resnet.train.optim.with_gradient_norms``, as the engine's does),
    each finished epoch also adds a ``train`` entry: the mean and the max
    over the epoch's updates of each kernel's gradient norm, read from the
    training step itself (no extra backward pass).

    Args:
        probe: ``(images, labels)`` NumPy arrays, the fixed probe set
            (labels as integers or one-hot). Draw it class-balanced (e.g.
            ``keras_resnet.data.balanced_indices``), never the first images
            of a split in file order.
        loss: ``loss(y_true, y_pred) -> scalar``; default categorical
            cross-entropy matching the label format.
        model: The model whose kernels are probed; default the model being
            trained. The engine passes the classifier, so augmentation is
            not part of the probe.
        every_epochs: Record at the end of every N-th epoch (0: never).
        steps: Steps of the first epoch to record at (0 is always recorded).
        path: Where to write ``gradient_norms.json`` after every record.
        log_dir: TensorBoard directory for scalars and a histogram per
            record (TensorFlow needed); None turns it off.
        batch_size: Probe images per forward/backward chunk.
        probe_info: Written as ``"probe"`` in ``gradient_norms.json``
            (the engine gives ``size``, ``seed`` and ``class_counts``).

    Example:
        >>> probe = balanced_indices(y, 512, seed=0)
        >>> recorder = GradientNormRecorder((x[probe], y[probe]), steps=[0, 10])
        >>> model.fit(x, y, callbacks=[recorder])
        >>> first = recorder.records[0]
        >>> first["norms"]  # {"stem_conv": ..., ..., "fc": ...}
    """

    def __init__(
        self,
        probe: tuple[np.ndarray, np.ndarray],
        *,
        loss: Callable | None = None,
        model: keras.Model | None = None,
        every_epochs: int = 1,
        steps: Sequence[int] = (0, 10, 50, 100),
        path: str | os.PathLike | None = None,
        log_dir: str | os.PathLike | None = None,
        batch_size: int = 128,
        probe_info: dict[str, Any] | None = None,
    ):
        super().__init__()
        images, labels = probe
        if len(images) == 0 or len(images) != len(labels):
            raise ValueError(
                "probe must be (images, labels) of equal, non-zero length. "
                f"Received: probe=({len(images)} images, {len(labels)} labels)"
            )
        if isinstance(every_epochs, bool) or not isinstance(every_epochs, int):
            raise ValueError(
                f"every_epochs must be an integer >= 0. Received: every_epochs={every_epochs!r}"
            )
        if every_epochs < 0:
            raise ValueError(
                f"every_epochs must be an integer >= 0. Received: every_epochs={every_epochs!r}"
            )
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in steps):
            raise ValueError(
                f"steps must be integers >= 0. Received: steps={list(steps)!r}"
            )
        check_int("batch_size", batch_size, minimum=1)
        self.probe = (np.asarray(images, "float32"), np.asarray(labels))
        self.batch_size = batch_size
        self.probe_info = dict(probe_info) if probe_info else None
        self.train: list[dict[str, Any]] = []
        self.loss = loss or _default_loss(self.probe[1])
        self.probe_model = model
        self.every_epochs = every_epochs
        self.steps = sorted(set(steps) | {0})
        self.path = pathlib.Path(path) if path is not None else None
        self.log_dir = log_dir
        self.records: list[dict[str, Any]] = []
        self.layers: list[str] = []
        self._epoch = 0
        self._pending: list[int] = []
        self._function = None
        self._writer = None

    # -- Keras hooks ---------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._build()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._pending = list(self.steps) if epoch == 0 and self.every_epochs else []
        tracker = self._tracker()
        if tracker is not None:
            tracker.reset_gradient_norms()

    def on_train_batch_begin(self, batch, logs=None):
        if self._pending and batch >= self._pending[0]:
            self._pending = [s for s in self._pending if s > batch]
            self.record(self._epoch, batch)

    def on_epoch_end(self, epoch, logs=None):
        self._record_training_norms(epoch)
        if self.every_epochs and (epoch + 1) % self.every_epochs == 0:
            norms = self.record(epoch + 1, 0)
            if logs is not None:
                logs.update(history_entries(self.layers, norms))

    # -- public --------------------------------------------------------------

    def compute_norms(self) -> dict[str, float]:
        """The per-layer gradient norms of the model as it is now."""
        if self._function is None:
            self._build()
        model = self._target()
        current = self._current_values()
        trainable = [current(v) for v in model.trainable_variables]
        non_trainable = [current(v) for v in model.non_trainable_variables]
        images, labels = self.probe
        total = None
        for start in range(0, len(labels), self.batch_size):
            chunk = slice(start, start + self.batch_size)
            grads = self._function(
                trainable, non_trainable, images[chunk], labels[chunk]
            )
            weight = len(labels[chunk]) / len(labels)
            grads = [
                weight * keras.ops.convert_to_numpy(g).astype("float64") for g in grads
            ]
            total = (
                grads
                if total is None
                else [a + b for a, b in zip(total, grads, strict=True)]
            )
        return {
            name: float(np.linalg.norm(grad))
            for name, grad in zip(self.layers, total, strict=True)
        }

    def record(self, epoch: int, step: int) -> dict[str, float]:
        """Measure now and store the record ``(epoch, step)``."""
        norms = self.compute_norms()
        self.records.append({"epoch": int(epoch), "step": int(step), "norms": norms})
        self._write_file()
        self._write_summaries(epoch, step, norms)
        return norms

    def restore(
        self, records: list[dict[str, Any]], train: list[dict[str, Any]] = ()
    ) -> None:
        """Continue after ``records`` and ``train`` entries (from a backup of
        an interrupted run)."""
        self.records = [dict(r) for r in records]
        self.train = [dict(t) for t in train]

    def to_json(self) -> dict[str, Any]:
        """The ``gradient_norms.json`` content: ``layers``, ``probe`` (when
        given), ``records`` (probe norms) and ``train`` (one entry per
        finished epoch: ``epoch``, ``steps``, per-layer ``mean`` and ``max``)."""
        out: dict[str, Any] = {"layers": list(self.layers)}
        if self.probe_info is not None:
            out["probe"] = dict(self.probe_info)
        out["records"] = list(self.records)
        out["train"] = list(self.train)
        return out

    # -- helpers -------------------------------------------------------------

    def _target(self) -> keras.Model:
        return self.probe_model if self.probe_model is not None else self.model

    def _tracker(self):
        """The optimizer tracking applied gradient norms, if it does.

        Loss scaling wraps the tracking optimizer (``inner_optimizer``).
        """
        optimizer = getattr(self.model, "optimizer", None) if self.model else None
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        return inner if hasattr(inner, "gradient_norm_stats") else None

    def _record_training_norms(self, epoch: int) -> None:
        """Append the ``train`` entry of the finished 0-based ``epoch``."""
        tracker = self._tracker()
        if tracker is None:
            return
        steps, means, maxima = tracker.gradient_norm_stats()
        if not steps:
            return
        names = self._tracked_names(tracker)
        entry = {
            "epoch": int(epoch) + 1,
            "steps": steps,
            "mean": dict(zip(names, means, strict=True)),
            "max": dict(zip(names, maxima, strict=True)),
        }
        self.train = [t for t in self.train if t["epoch"] != entry["epoch"]]
        self.train.append(entry)
        self._write_file()
        self._write_train_summaries(entry)

    def _tracked_names(self, tracker) -> list[str]:
        by_path = {
            layer.kernel.path: layer.name for layer in kernel_layers(self._target())
        }
        return [by_path.get(path, path) for path in tracker.tracked_kernels]

    def _current_values(self) -> Callable:
        """``variable -> value``, reading JAX's in-flight training state.

        During ``fit`` on JAX the variables hold no values; the trainer keeps
        them in ``model._jax_state`` (trainable, non-trainable, ...).
        """
        state = getattr(self.model, "_jax_state", None) if self.model else None
        values = {}
        if state:
            for key in ("trainable_variables", "non_trainable_variables"):
                variables = getattr(self.model, key)
                values.update(zip(map(id, variables), state[key], strict=True))
        return lambda v: values[id(v)] if id(v) in values else v.value

    def _build(self) -> None:
        model = self._target()
        kernels = {id(layer.kernel): layer.name for layer in kernel_layers(model)}
        variables = model.trainable_variables
        indices = [i for i, v in enumerate(variables) if id(v) in kernels]
        self.layers = [kernels[id(variables[i])] for i in indices]
        self._function = _grad_function(model, self.loss, indices)

    def _write_file(self) -> None:
        if self.path is not None:
            write_json(self.path, self.to_json())

    def _write_summaries(
        self,
        epoch: int,
        step: int,
        norms: dict[str, float],
        prefix: str = "grad_norm",
    ):
        if self.log_dir is None or not norms:
            return
        if not tensorboard_available():
            return
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.fspath(self.log_dir))
        steps_per_epoch = (self.params or {}).get("steps") or 0
        global_step = epoch * steps_per_epoch + step
        with self._writer.as_default(step=global_step):
            for name, value in norms.items():
                tf.summary.scalar(f"{prefix}/{name}", value)
            tf.summary.histogram(f"{prefix}/all_layers", list(norms.values()))
        self._writer.flush()

    def _write_train_summaries(self, entry: dict[str, Any]) -> None:
        """The epoch's training norms, at the global step where it ends."""
        for stat in ("mean", "max"):
            self._write_summaries(
                entry["epoch"], 0, entry[stat], prefix=f"train_grad_norm/{stat}"
            )


def tensorboard_available() -> bool:
    """Whether TensorFlow and TensorBoard (needed to write summaries) are installed."""
    return all(_installed(name) for name in ("tensorflow", "tensorboard"))


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def history_entries(layers: list[str], norms: dict[str, float]) -> dict[str, float]:
    """The fit-history keys of a record: first and last layer, and the ratio."""
    if not layers:
        return {}
    first, last = norms[layers[0]], norms[layers[-1]]
    return {
        f"grad_norm/{layers[0]}": first,
        f"grad_norm/{layers[-1]}": last,
        "grad_norm/first_to_last": first / last if last else math.inf,
    }


def kernel_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers whose trainable kernel the instrument measures, in depth
    order (nested models flattened): every conv and dense layer."""
    layers = []
    for layer in iter_layers(model):
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and layer.trainable and kernel.trainable:
            layers.append(layer)
    return layers


def _default_loss(labels: np.ndarray) -> keras.losses.Loss:
    if labels.ndim == 1:
        return keras.losses.SparseCategoricalCrossentropy()
    return keras.losses.CategoricalCrossentropy()


def _grad_function(model: keras.Model, loss: Callable, indices: list[int]):
    """``f(trainable, non_trainable, x, y) -> kernel gradients`` of the mean
    loss over ``x``, for the current backend."""
    backend = keras.backend.backend()

    def loss_of(trainable, non_trainable, x, y):
        outputs, _ = model.stateless_call(trainable, non_trainable, x, training=True)
        return keras.ops.cast(loss(y, outputs), "float32")

    if backend == "tensorflow":
        return _tensorflow_grads(loss_of, indices)
    if backend == "jax":
        return _jax_grads(loss_of, indices)
    raise ValueError(
        "GradientNormRecorder supports the tensorflow and jax backends. "
        f"Received: backend={backend!r}"
    )


def _tensorflow_grads(loss_of: Callable, indices: list[int]):
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def grads(trainable, non_trainable, x, y):
        with tf.GradientTape() as tape:
            tape.watch(trainable)
            loss = loss_of(trainable, non_trainable, x, y)
        kernels = tape.gradient(loss, [trainable[i] for i in indices])
        return [tf.cast(g, "float32") for g in kernels]

    return grads


def _jax_grads(loss_of: Callable, indices: list[int]):
    import jax

    @jax.jit
    def grads(trainable, non_trainable, x, y):
        full = jax.grad(loss_of)(trainable, non_trainable, x, y)
        return [full[i].astype("float32") for i in indices]

    return grads

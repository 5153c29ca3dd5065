"""A NumPy ``keras.utils.PyDataset`` loader: the pipeline without TensorFlow.

Same semantics as ``make_pipeline``: the order of epoch ``e`` is
``epoch_permutation(n, seed, e)``, training drops the last partial batch, and
evaluation keeps every example in order. With the same seed it yields the
same batches as ``make_pipeline``, mixed ones included (both call
``keras_resnet.data.mixing.mix_batch``). Works on any backend, and where
TensorFlow is not installed (JAX machines).
"""

from __future__ import annotations

import keras
import numpy as np

from keras_resnet.data.mixing import mix_batch, one_hot
from keras_resnet.data.pipeline import (
    check_batching,
    check_lengths,
    check_mixing,
    check_training_batch,
    epoch_permutation,
)


class ArrayLoader(keras.utils.PyDataset):
    """Batches of ``(uint8 images, int64 labels)`` from in-memory arrays.

    The epoch (and so the order) changes only through ``set_epoch``: pass
    ``callbacks=[loader.epoch_callback()]`` and ``shuffle=False`` to ``fit``
    (Keras' own ``shuffle`` would reorder the batches with an unseeded
    generator, and Keras calls ``on_epoch_end`` at extra times, so counting
    those calls would not be reliable).

    Args:
        images: uint8 ``(N, H, W, C)`` array (``splits.arrays[split][0]``).
        labels: int64 ``(N,)`` array.
        batch_size: Examples per batch.
        training: Shuffle per epoch and drop the last partial batch.
        seed: Seed of the order (and of mixing).
        initial_epoch: The epoch (0-based) the first pass corresponds to.
        num_classes: Required for mixup/cutmix (labels become one-hot).
        mixup_alpha: Mixup Beta parameter (0: off), see ``mixing.mix_batch``.
        cutmix_alpha: CutMix Beta parameter (0: off).
        **kwargs: ``keras.utils.PyDataset`` arguments (``workers``, ...).
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        batch_size: int,
        training: bool,
        seed: int = 0,
        initial_epoch: int = 0,
        num_classes: int | None = None,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.images = np.asarray(images)
        self.labels = np.asarray(labels).astype(np.int64)
        check_lengths(self.images, self.labels)
        check_batching(batch_size, seed, initial_epoch)
        if training:
            check_training_batch(batch_size, len(self.labels))
        check_mixing(num_classes, mixup_alpha, cutmix_alpha)
        self.batch_size = batch_size
        self.training = training
        self.seed = seed
        self.epoch = initial_epoch
        self.num_classes = num_classes
        self.mixup_alpha = mixup_alpha
        self.cutmix_alpha = cutmix_alpha
        self._order = self._epoch_order()

    def __len__(self) -> int:
        if self.training:
            return len(self.labels) // self.batch_size
        return -(-len(self.labels) // self.batch_size)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range [0, {len(self)})")
        chosen = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        images, labels = self.images[chosen], self.labels[chosen]
        if self.mixup_alpha > 0 or self.cutmix_alpha > 0:
            return self._mix(images, labels, index)
        return images, labels

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` (0-based) from now on."""
        self.epoch = epoch
        self._order = self._epoch_order()

    def epoch_callback(self) -> keras.callbacks.Callback:
        """A callback for ``fit`` that sets this loader's epoch at each epoch start.

        Keras passes absolute epoch numbers (``fit(initial_epoch=e)`` starts
        at ``e``), so a resumed run gets the same order without extra care.
        """
        return _SetEpoch(self)

    def _epoch_order(self) -> np.ndarray:
        if not self.training:
            return np.arange(len(self.labels))
        return epoch_permutation(len(self.labels), self.seed, self.epoch)

    def _mix(self, images, labels, index):
        return mix_batch(
            images,
            one_hot(labels, self.num_classes),
            seed=self.seed,
            epoch=self.epoch,
            step=index,
            mixup_alpha=self.mixup_alpha,
            cutmix_alpha=self.cutmix_alpha,
        )


class _SetEpoch(keras.callbacks.Callback):
    def __init__(self, loader: ArrayLoader):
        super().__init__()
        self._loader = loader

    def on_epoch_begin(self, epoch, logs=None):
        self._loader.set_epoch(epoch)

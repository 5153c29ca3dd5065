"""Optimizers and learning-rate schedules of the training recipes.

Schedules are ``keras.optimizers.schedules.LearningRateSchedule`` classes
written with ``keras.ops`` (so they run inside the compiled step on every
backend) and registered as serializable. Weight decay reaches conv and dense
kernels only: SGD adds it to the gradient (classic L2, as in He et al. and
PyTorch's ``SGD(weight_decay=...)``), AdamW decays decoupled (Loshchilov &
Hutter) with biases and BatchNorm parameters excluded.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_resnet.train.config import TrainConfig

_PACKAGE = "keras_resnet"


def _is_kernel(variable) -> bool:
    # Conv2D / Dense / DepthwiseConv2D weights all end in "kernel"; on
    # TensorFlow the optimizer sees the tf.Variable ("dense/kernel:0").
    return variable.name.split(":")[0].endswith("kernel")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to ``peak`` then cosine decay to 0.

    Args:
        peak: Learning rate reached at the end of the warm-up.
        total_steps: Steps of the whole run.
        warmup_steps: Steps of the linear warm-up.
    """

    def __init__(self, peak: float, total_steps: int, warmup_steps: int = 0):
        self.peak = float(peak)
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = min(max(int(warmup_steps), 0), self.total_steps - 1)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = ops.maximum(float(self.warmup_steps), 1.0)
        rising = self.peak * (step + 1.0) / warmup
        decay_steps = float(self.total_steps - self.warmup_steps)
        progress = ops.clip((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
        falling = 0.5 * self.peak * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step < self.warmup_steps, rising, falling)

    def get_config(self) -> dict:
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Smith's one-cycle policy (cosine annealing form, as in fast.ai/PyTorch).

    Rises from ``peak / div_factor`` to ``peak`` over ``pct_start`` of the
    run, then falls to ``peak / (div_factor * final_div_factor)``.

    Args:
        peak: Maximum learning rate.
        total_steps: Steps of the whole run.
        pct_start: Fraction of the run spent rising.
        div_factor: ``peak / initial learning rate``.
        final_div_factor: ``initial / final learning rate``.
    """

    def __init__(
        self,
        peak: float,
        total_steps: int,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
    ):
        self.peak = float(peak)
        self.total_steps = max(int(total_steps), 2)
        self.pct_start = float(pct_start)
        self.div_factor = float(div_factor)
        self.final_div_factor = float(final_div_factor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        start = self.peak / self.div_factor
        end = start / self.final_div_factor
        rise_steps = max(self.pct_start * (self.total_steps - 1), 1.0)
        fall_steps = max(self.total_steps - 1 - rise_steps, 1.0)
        rise = ops.clip(step / rise_steps, 0.0, 1.0)
        fall = ops.clip((step - rise_steps) / fall_steps, 0.0, 1.0)
        rising = self.peak + (start - self.peak) * 0.5 * (1.0 + ops.cos(math.pi * rise))
        falling = end + (self.peak - end) * 0.5 * (1.0 + ops.cos(math.pi * fall))
        return ops.where(step < rise_steps, rising, falling)

    def get_config(self) -> dict:
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """He et al.'s schedule: ``peak``, divided by 10 at 50% and 75% of the run.

    Args:
        peak: Initial learning rate.
        total_steps: Steps of the whole run.
        milestones: Fractions of the run at which the rate drops.
        factor: Multiplier applied at each milestone.
    """

    def __init__(
        self,
        peak: float,
        total_steps: int,
        milestones: tuple[float, ...] = (0.5, 0.75),
        factor: float = 0.1,
    ):
        self.peak = float(peak)
        self.total_steps = max(int(total_steps), 1)
        self.milestones = tuple(float(m) for m in milestones)
        self.factor = float(factor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        rate = ops.convert_to_tensor(self.peak, "float32")
        for milestone in self.milestones:
            passed = step >= round(milestone * self.total_steps)
            rate = ops.where(passed, rate * self.factor, rate)
        return rate

    def get_config(self) -> dict:
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "milestones": list(self.milestones),
            "factor": self.factor,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class KernelL2SGD(keras.optimizers.SGD):
    """SGD (momentum, Nesterov) adding ``l2 * w`` to the gradient of kernels.

    This is the coupled weight decay of the original ResNet recipe: the decay
    enters the momentum buffer. Biases and BatchNorm parameters are not
    decayed.

    Args:
        l2: Weight-decay coefficient (5e-4 in the CIFAR recipe).
        **kwargs: ``keras.optimizers.SGD`` arguments.
    """

    def __init__(self, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.l2 = float(l2)

    def update_step(self, gradient, variable, learning_rate):
        if self.l2 and _is_kernel(variable):
            gradient = ops.add(
                ops.cast(gradient, variable.dtype),
                ops.multiply(ops.cast(self.l2, variable.dtype), variable),
            )
        super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict:
        return {**super().get_config(), "l2": self.l2}


class GradientNormTracking:
    """Optimizer mixin: per-layer norms of the gradients each step applies.

    Every ``apply`` (one optimizer update, after loss-scale unscaling and
    before clipping or weight decay) adds the L2 norm of the gradient of each
    tracked kernel to a running sum and maximum kept in optimizer variables,
    so it runs inside the compiled train step on every backend and costs one
    reduction per kernel, not a second backward pass. ``reset_gradient_norms``
    starts a new window (the recorder does it at every epoch start);
    ``gradient_norm_stats`` reads the window's mean and max.

    Use it through :func:`with_gradient_norms`.

    Args:
        tracked_kernels: ``variable.path`` of each kernel to track, in order.
        **kwargs: The base optimizer's arguments.
    """

    def __init__(self, *args, tracked_kernels=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.tracked_kernels = tuple(tracked_kernels)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        size = (len(self.tracked_kernels),)
        # Sums across replicas would double count: every replica applies
        # the same all-reduced gradients.
        common = {"dtype": "float32", "aggregation": "only_first_replica"}
        self.grad_norm_sum = self.add_variable(size, name="grad_norm_sum", **common)
        self.grad_norm_max = self.add_variable(size, name="grad_norm_max", **common)
        self.grad_norm_count = self.add_variable((), name="grad_norm_count", **common)

    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        variables = (
            self._trainable_variables
            if trainable_variables is None
            else list(trainable_variables)
        )
        by_path = {
            _path(v): g for v, g in zip(variables, grads, strict=True) if g is not None
        }
        norms = ops.stack(
            [
                ops.sqrt(ops.sum(ops.square(ops.cast(by_path[path], "float32"))))
                if path in by_path
                else ops.zeros((), "float32")
                for path in self.tracked_kernels
            ]
        )
        # The base class builds the optimizer (and so these sums) on its
        # first call.
        result = super().apply(grads, trainable_variables)
        self.grad_norm_sum.assign_add(norms)
        self.grad_norm_max.assign(ops.maximum(self.grad_norm_max, norms))
        self.grad_norm_count.assign_add(ops.ones((), "float32"))
        return result

    def reset_gradient_norms(self) -> None:
        """Start a new window of tracked norms."""
        if not self.built:  # built by the first update, with zero sums
            return
        for variable in (self.grad_norm_sum, self.grad_norm_max):
            variable.assign(ops.zeros(variable.shape, "float32"))
        self.grad_norm_count.assign(ops.zeros((), "float32"))

    def gradient_norm_stats(self) -> tuple[int, list[float], list[float]]:
        """``(steps, means, maxima)`` of the window, in ``tracked_kernels`` order."""
        if not self.built:
            return 0, [], []
        steps = int(ops.convert_to_numpy(self.grad_norm_count))
        total = ops.convert_to_numpy(self.grad_norm_sum)
        maxima = ops.convert_to_numpy(self.grad_norm_max)
        means = total / steps if steps else total * math.nan
        return steps, [float(v) for v in means], [float(v) for v in maxima]

    def get_config(self) -> dict:
        return {**super().get_config(), "tracked_kernels": list(self.tracked_kernels)}


def _path(variable) -> str:
    # Keras variables have a unique ``path`` ("stage1_block1_conv1/kernel").
    return getattr(variable, "path", None) or variable.name.split(":")[0]


_TRACKING_CLASSES: dict[type, type] = {}


def with_gradient_norms(cls: type) -> type:
    """``cls`` (a Keras optimizer class) with :class:`GradientNormTracking`.

    Example:
        >>> SGD = with_gradient_norms(keras.optimizers.SGD)
        >>> optimizer = SGD(0.1, tracked_kernels=["stem_conv/kernel"])
    """
    if cls not in _TRACKING_CLASSES:
        _TRACKING_CLASSES[cls] = type(cls.__name__, (GradientNormTracking, cls), {})
    return _TRACKING_CLASSES[cls]


def build_schedule(config: TrainConfig, steps_per_epoch: int):
    """The learning rate (a float or a schedule) for ``config.schedule``.

    Args:
        config: The run's configuration.
        steps_per_epoch: Optimizer updates per epoch.
    """
    total = config.epochs * steps_per_epoch
    if config.schedule == "cosine":
        warmup = round(config.warmup_epochs * steps_per_epoch)
        return WarmupCosine(config.learning_rate, total, warmup)
    if config.schedule == "onecycle":
        return OneCycle(config.learning_rate, total)
    if config.schedule == "step":
        return StepDecay(config.learning_rate, total)
    return config.learning_rate


def build_optimizer(
    config: TrainConfig,
    steps_per_epoch: int,
    tracked_kernels: list[str] | None = None,
) -> keras.Optimizer:
    """The optimizer of ``config`` with its learning-rate schedule.

    With ``precision="mixed_float16"`` it is wrapped in
    ``keras.optimizers.LossScaleOptimizer`` (dynamic loss scaling).

    Args:
        config: The run's configuration (``optimizer``, ``learning_rate``,
            ``momentum``, ``nesterov``, ``weight_decay``, ``schedule``,
            ``precision``).
        steps_per_epoch: Optimizer updates per epoch.
        tracked_kernels: Kernel ``variable.path`` values whose applied
            gradient norms the optimizer tracks (see
            :class:`GradientNormTracking`); None tracks nothing.
    """
    learning_rate = build_schedule(config, steps_per_epoch)

    def make(cls, **kwargs):
        if tracked_kernels is None:
            return cls(**kwargs)
        return with_gradient_norms(cls)(tracked_kernels=tracked_kernels, **kwargs)

    if config.optimizer == "sgd":
        optimizer = make(
            KernelL2SGD,
            l2=config.weight_decay,
            learning_rate=learning_rate,
            momentum=config.momentum,
            nesterov=config.nesterov,
        )
    else:
        optimizer = make(
            keras.optimizers.AdamW,
            learning_rate=learning_rate,
            weight_decay=config.weight_decay,
        )
        optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    if config.precision == "mixed_float16":
        # float16 gradients underflow to 0 below ~6e-8: scale the loss up and
        # the gradients back down (dynamic scale, skipping non-finite steps).
        # Keras wraps only models built under a mixed_float16 global policy;
        # the training model is not, so wrap here explicitly.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def current_learning_rate(optimizer: keras.Optimizer) -> float:
    """The learning rate the optimizer applies at its current iteration."""
    return float(ops.convert_to_numpy(optimizer.learning_rate))

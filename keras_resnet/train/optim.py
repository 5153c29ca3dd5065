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


def build_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.Optimizer:
    """The optimizer of ``config`` with its learning-rate schedule.

    With ``precision="mixed_float16"`` it is wrapped in
    ``keras.optimizers.LossScaleOptimizer`` (dynamic loss scaling).

    Args:
        config: The run's configuration (``optimizer``, ``learning_rate``,
            ``momentum``, ``nesterov``, ``weight_decay``, ``schedule``,
            ``precision``).
        steps_per_epoch: Optimizer updates per epoch.
    """
    learning_rate = build_schedule(config, steps_per_epoch)
    if config.optimizer == "sgd":
        optimizer = KernelL2SGD(
            l2=config.weight_decay,
            learning_rate=learning_rate,
            momentum=config.momentum,
            nesterov=config.nesterov,
        )
    else:
        optimizer = keras.optimizers.AdamW(
            learning_rate=learning_rate, weight_decay=config.weight_decay
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

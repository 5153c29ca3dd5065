import keras
import numpy as np
import pytest

from keras_resnet.train import optim
from keras_resnet.train.config import TrainConfig


def rate(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_warmup_cosine_rises_linearly_then_decays_to_zero():
    schedule = optim.WarmupCosine(0.1, total_steps=100, warmup_steps=10)
    assert rate(schedule, 0) == pytest.approx(0.01)
    assert rate(schedule, 9) == pytest.approx(0.1)
    assert rate(schedule, 10) == pytest.approx(0.1)
    assert rate(schedule, 55) == pytest.approx(0.05, rel=1e-5)
    assert rate(schedule, 100) == pytest.approx(0.0, abs=1e-7)


def test_one_cycle_peaks_at_thirty_percent_and_ends_near_zero():
    schedule = optim.OneCycle(0.4, total_steps=101)
    assert rate(schedule, 0) == pytest.approx(0.4 / 25)
    assert rate(schedule, 30) == pytest.approx(0.4)
    assert rate(schedule, 100) == pytest.approx(0.4 / 25 / 1e4, rel=1e-3)
    assert rate(schedule, 15) < rate(schedule, 29)


def test_step_decay_divides_by_ten_at_half_and_three_quarters():
    schedule = optim.StepDecay(0.1, total_steps=100)
    assert [rate(schedule, s) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    )


@pytest.mark.parametrize(
    "schedule",
    [
        optim.WarmupCosine(0.2, 50, 5),
        optim.OneCycle(
            0.3, 40, pct_start=0.25, div_factor=10.0, final_div_factor=100.0
        ),
        optim.StepDecay(0.05, 80, milestones=(0.3, 0.6, 0.9), factor=0.2),
    ],
)
def test_schedules_round_trip_through_keras_serialization(schedule):
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(schedule)
    )
    assert type(restored) is type(schedule)
    assert restored.get_config() == schedule.get_config()
    assert rate(restored, 17) == pytest.approx(rate(schedule, 17))


@pytest.mark.parametrize(
    ("schedule", "kind"),
    [
        ("cosine", optim.WarmupCosine),
        ("onecycle", optim.OneCycle),
        ("step", optim.StepDecay),
    ],
)
def test_build_schedule_follows_the_config(schedule, kind):
    config = TrainConfig(schedule=schedule, epochs=3, warmup_epochs=0.5)
    built = optim.build_schedule(config, steps_per_epoch=10)
    assert isinstance(built, kind)
    assert built.total_steps == 30
    assert optim.build_schedule(config.replace(schedule="constant"), 10) == 0.1


def _one_step(optimizer):
    dense = keras.layers.Dense(2, kernel_initializer="ones", bias_initializer="ones")
    dense.build((None, 2))
    zeros = [np.zeros((2, 2), "float32"), np.zeros((2,), "float32")]
    optimizer.apply_gradients(zip(zeros, [dense.kernel, dense.bias], strict=True))
    return (
        keras.ops.convert_to_numpy(dense.kernel),
        keras.ops.convert_to_numpy(dense.bias),
    )


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_weight_decay_reaches_kernels_only(name):
    config = TrainConfig(
        optimizer=name,
        weight_decay=0.1,
        learning_rate=0.5,
        momentum=0.0,
        schedule="constant",
    )
    kernel, bias = _one_step(optim.build_optimizer(config, steps_per_epoch=1))
    np.testing.assert_allclose(kernel, 0.95)  # 1 - lr * wd
    np.testing.assert_allclose(bias, 1.0)


def test_kernel_l2_sgd_round_trips_its_config():
    optimizer = optim.KernelL2SGD(
        l2=3e-4, learning_rate=0.2, momentum=0.8, nesterov=True
    )
    restored = optim.KernelL2SGD.from_config(optimizer.get_config())
    assert (restored.l2, restored.momentum, restored.nesterov) == (3e-4, 0.8, True)

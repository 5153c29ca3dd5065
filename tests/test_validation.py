"""The shared integer check behind every count-like argument."""

import pytest

from keras_resnet._validation import check_int


@pytest.mark.parametrize("value", [1, 7])
def test_positive_accepted(value):
    check_int("batch_size", value)


@pytest.mark.parametrize("value", [0, -1, 2.0, "3", True, None])
def test_positive_refused(value):
    with pytest.raises(ValueError) as info:
        check_int("batch_size", value)
    assert str(info.value) == (
        f"batch_size must be a positive integer. Received: batch_size={value!r}"
    )


def test_non_negative_and_none():
    check_int("version", 0, minimum=0)
    check_int("max_train_examples", None, allow_none=True)
    with pytest.raises(ValueError, match="must be a non-negative integer. Received"):
        check_int("version", -1, minimum=0)
    with pytest.raises(ValueError, match=r"must be a positive integer or None\. "):
        check_int("max_train_examples", 0, allow_none=True)
    with pytest.raises(ValueError, match=r"must be an integer >= 10\. "):
        check_int("depth", 4, minimum=10)


def test_config_rejects_boolean_example_cap():
    from keras_resnet.train import TrainConfig

    with pytest.raises(ValueError, match="Received: max_train_examples=True"):
        TrainConfig(max_train_examples=True)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("learning_rate", float("nan")),
        ("learning_rate", float("inf")),
        ("width_multiplier", float("nan")),
        ("weight_decay", float("nan")),
        ("momentum", float("inf")),
        ("grad_probe_size", 0),
    ],
)
def test_config_rejects_non_finite_numbers(field, value):
    """A YAML ``.nan`` must not reach training."""
    from keras_resnet.train import TrainConfig

    with pytest.raises(ValueError, match=f"Received: {field}="):
        TrainConfig(**{field: value})


@pytest.mark.parametrize(
    ("kwargs", "value", "message"),
    [
        ({"positive": True}, 0, "lr must be a positive finite number. Received: lr=0"),
        ({"positive": True}, float("nan"), "must be a positive finite number"),
        ({}, -0.5, "lr must be a finite number >= 0. Received: lr=-0.5"),
        ({}, True, "lr must be a finite number >= 0. Received: lr=True"),
        ({"below": 1.0}, 1.0, "lr must be a finite number in [0, 1). Received"),
        ({"maximum": 16, "why": " (why)"}, 17, "lr must be at most 16 (why). Rec"),
    ],
)
def test_number_refused(kwargs, value, message):
    from keras_resnet._validation import check_number

    with pytest.raises(ValueError) as info:
        check_number("lr", value, **kwargs)
    assert message in str(info.value)


def test_number_and_choice_accepted():
    from keras_resnet._validation import check_choice, check_number

    check_number("lr", 0.1, positive=True, maximum=16)
    check_number("label_smoothing", 0, below=1.0)
    check_choice("optimizer", "sgd", ("sgd", "adamw"))
    with pytest.raises(ValueError) as info:
        check_choice("optimizer", "lamb", ("sgd", "adamw"))
    assert str(info.value) == (
        "optimizer must be one of sgd, adamw. Received: optimizer='lamb'"
    )

"""The one tiny training setup every test folder shares: seconds per run on a CPU.

``tiny_config`` gives a ``TrainConfig``, ``tiny_fit_args`` the same run as
``keras-resnet fit`` arguments, ``tiny_model`` a built model. Tests change
what they need with keyword arguments instead of keeping their own copy.

Keras and the package are imported inside the functions, so this module also
loads in a process where they are blocked (see ``import_blocker``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

# A ResNet-8 (one block per stage) at 1/8 width on a few hundred synthetic
# 32x32 images: 6 steps per epoch, a few seconds per run.
TINY: dict[str, Any] = dict(
    model="mini_resnet",
    model_options={"blocks_per_stage": 1},
    width_multiplier=0.125,
    dataset="synthetic",
    epochs=2,
    batch_size=32,
    max_train_examples=224,
    max_test_examples=50,
    validation_split=1 / 7,
    grad_norm_steps=[0, 2],
    jit_compile=False,
    verbose=0,
)


def tiny_values(**changes: Any) -> dict[str, Any]:
    """``TINY`` with ``changes`` applied (a ``None`` value drops the field)."""
    values = {**TINY, **changes}
    return {key: value for key, value in values.items() if value is not None}


def tiny_config(output_dir: str | os.PathLike | None = None, **changes: Any):
    """A tiny ``TrainConfig`` writing to ``output_dir``.

    Args:
        output_dir: The run directory (``None``: the config's default).
        **changes: ``TrainConfig`` fields to change; ``None`` restores the
            field's default.

    Returns:
        The ``TrainConfig``.
    """
    from keras_resnet.train import TrainConfig

    if output_dir is not None:
        changes["output_dir"] = str(output_dir)
    return TrainConfig(**tiny_values(**changes))


def tiny_fit_args(output_dir: str | os.PathLike | None = None, **changes: Any):
    """The same tiny run as ``keras-resnet fit`` arguments (model first).

    Args:
        output_dir: Passed as ``--output-dir`` when given.
        **changes: ``TrainConfig`` fields to change, as in ``tiny_config``.

    Returns:
        A list of strings, e.g. ``["mini_resnet", "--dataset", "synthetic", ...]``.
    """
    values = tiny_values(**changes)
    if output_dir is not None:
        values["output_dir"] = str(output_dir)
    args = [values.pop("model")]
    for key, value in values.pop("model_options", {}).items():
        args += ["--model-option", f"{key}={value}"]
    for field, value in values.items():
        option = "--" + field.replace("_", "-")
        if isinstance(value, bool):
            args.append(option if value else "--no-" + option[2:])
        elif isinstance(value, list | tuple):
            args += [option, ",".join(map(str, value))]
        else:
            args += [option, str(value)]
    return args


def tiny_model(name: str = "mini_resnet", **kwargs: Any):
    """A built tiny model (seeded, so two calls give the same weights).

    Args:
        name: A registered model name.
        **kwargs: Builder arguments; ``width_multiplier`` defaults to
            ``TINY``'s, and mini_resnet to one block per stage.

    Returns:
        The ``keras.Model``.
    """
    import keras

    import keras_resnet

    kwargs.setdefault("width_multiplier", TINY["width_multiplier"])
    if name == "mini_resnet":
        kwargs.setdefault("blocks_per_stage", 1)
    keras.utils.set_random_seed(1)
    return keras_resnet.build_model(name, **kwargs)


def assert_same_weights(model, reference, *, skip=()):
    """Every weighted layer of ``reference`` (but ``skip``) equal in ``model``."""
    compared = 0
    for layer in reference.layers:
        if not layer.weights or layer.name in skip:
            continue
        mine = model.get_layer(layer.name).get_weights()
        for a, b in zip(mine, layer.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
        compared += 1
    assert compared > 10

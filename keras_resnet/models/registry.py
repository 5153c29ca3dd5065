"""Model registry: every builder registers under a unique name.

``build_model(name, **kwargs)`` drops ``None`` keyword arguments before
calling the builder, so that a command line that passes every option (with
``None`` for "not given") falls through to the builder's own defaults.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable

import keras


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a model.

    Attributes:
        name: Registered name.
        builder: The function that returns a ``keras.Model``.
        description: One line for tables and ``--help``.
        family: Family label, e.g. ``"resnet"`` or ``"plain"``.
        has_skip: Whether the builder takes ``use_skip``.
    """

    name: str
    builder: Callable[..., keras.Model]
    description: str
    family: str
    has_skip: bool


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    name: str, *, description: str, family: str = "resnet", has_skip: bool = False
):
    """Decorator that registers a builder under ``name``.

    Raises:
        ValueError: If ``name`` is already registered.
    """

    def decorator(builder: Callable[..., keras.Model]):
        if name in _REGISTRY:
            raise ValueError(
                f"A model named {name!r} is already registered "
                f"(by {_REGISTRY[name].builder.__module__}). Received: name={name!r}"
            )
        _REGISTRY[name] = ModelInfo(name, builder, description, family, has_skip)
        return builder

    return decorator


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_REGISTRY)


def get_model_info(name: str) -> ModelInfo:
    """The registry entry for ``name``.

    Raises:
        ValueError: If ``name`` is not registered; the message lists the
            known names.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown model {name!r}. Known models: {', '.join(list_models())}. "
            f"Received: name={name!r}"
        ) from None


def check_builder_kwargs(name: str, kwargs: dict) -> None:
    """Raise ``ValueError`` for a keyword argument the builder does not take.

    Checked before the builder runs, so a misspelt option is reported by
    name instead of as a ``TypeError`` traceback from inside the builder.

    Args:
        name: A registered model name.
        kwargs: The keyword arguments meant for its builder.

    Raises:
        ValueError: For an unknown model, or for the first argument the
            builder does not accept (the message lists those it does).
    """
    parameters = inspect.signature(get_model_info(name).builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = [
        key
        for key, p in parameters.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    unknown = [key for key in kwargs if key not in accepted]
    if unknown:
        key = unknown[0]
        raise ValueError(
            f"Model {name!r} has no argument {key!r}; it accepts: "
            f"{', '.join(accepted)}. Received: {key}={kwargs[key]!r}"
        )


def build_model(name: str, **kwargs) -> keras.Model:
    """Build a registered model by name.

    Keyword arguments whose value is ``None`` are dropped, so the builder's
    defaults apply to them (ask for logits with
    ``classifier_activation="linear"``).

    Example:
        >>> model = build_model("resnet18", width_multiplier=0.25)

    Raises:
        ValueError: For an unknown name, an argument the builder does not
            take, or an invalid argument value.
    """
    check_builder_kwargs(name, kwargs)
    info = get_model_info(name)
    kwargs = {key: value for key, value in kwargs.items() if value is not None}
    return info.builder(**kwargs)

"""Model registry: every builder registers under a unique name.

``build_model(name, **kwargs)`` drops ``None`` keyword arguments before
calling the builder, so that a command line that passes every option (with
``None`` for "not given") falls through to the builder's own defaults.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from keras_resnet.models.catalog import check_arguments, did_you_mean, filter_models

if TYPE_CHECKING:
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

# The modules whose import registers the built-in models. The registry's
# readers import them first, so that importing ``keras_resnet.models`` (or
# only this module) stays cheap and the registry is still complete when read.
BUILTIN_MODULES = (
    "keras_resnet.models.vgg",
    "keras_resnet.models.resnet",
    "keras_resnet.models.preact",
    "keras_resnet.models.resnext",
    "keras_resnet.models.densenet",
)
_builtins_loaded = False


def load_builtin_models() -> None:
    """Import the built-in builders once, which registers them."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    # Set first: the modules call register_model while they import.
    _builtins_loaded = True
    try:
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
    except BaseException:
        _builtins_loaded = False
        raise


def register_model(
    name: str | None = None,
    *,
    description: str,
    family: str = "resnet",
    has_skip: bool | None = None,
):
    """Decorator that registers a builder under ``name``.

    Args:
        name: Registered name; default: the builder's function name.
        description: One line for tables and ``--help``.
        family: Family label, e.g. ``"resnet"`` or ``"plain"``.
        has_skip: Whether the builder takes ``use_skip``; default: whether
            its signature has it, so the two cannot disagree.

    Raises:
        ValueError: If the name is already registered.
    """

    def decorator(builder: Callable[..., keras.Model]):
        key = builder.__name__ if name is None else name
        if builder.__module__ not in BUILTIN_MODULES:
            load_builtin_models()  # so a clash with a built-in name is caught here
        if key in _REGISTRY:
            raise ValueError(
                f"A model named {key!r} is already registered "
                f"(by {_REGISTRY[key].builder.__module__}). Received: name={key!r}"
            )
        skip = has_skip
        if skip is None:
            skip = "use_skip" in inspect.signature(builder).parameters
        _REGISTRY[key] = ModelInfo(key, builder, description, family, skip)
        return builder

    return decorator


def list_models(
    pattern: str | Sequence[str] | None = None, family: str | None = None
) -> list[str]:
    """Names of the registered models, sorted; optionally filtered.

    Example:
        >>> list_models("resnet*")
        ['resnet18', 'resnet18_noskip', 'resnet34', 'resnet50']
        >>> list_models(family="wide-resnet")
        ['wide_resnet16_4', 'wide_resnet28_10']

    Args:
        pattern: A shell-style pattern matched against the whole name
            (``fnmatch``, case-sensitive: ``"resnet*"``, ``"*18*"``), or a
            list of them (a name matching any is kept), as in
            ``timm.list_models``. None: every model.
        family: Keep only this family (``ModelInfo.family``, e.g.
            ``"resnet"``, ``"wide-resnet"``). None: every family.

    Raises:
        ValueError: For a family no registered model has.
    """
    load_builtin_models()
    family_of = {name: info.family for name, info in _REGISTRY.items()}
    return filter_models(family_of, pattern, family)


def get_model_info(name: str) -> ModelInfo:
    """The registry entry for ``name``.

    Raises:
        ValueError: If ``name`` is not registered; the message lists the
            known names.
    """
    load_builtin_models()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown model {name!r}{did_you_mean(name, _REGISTRY)}. Known "
            f"models: {', '.join(list_models())}. Received: name={name!r}"
        ) from None


def builder_arguments(name: str) -> tuple[str, ...] | None:
    """The keyword arguments a model's builder takes, in signature order.

    None when the builder takes any keyword (``**kwargs``).

    Raises:
        ValueError: For an unknown model.
    """
    parameters = inspect.signature(get_model_info(name).builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    return tuple(
        key
        for key, p in parameters.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    )


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
    accepted = builder_arguments(name)
    if accepted is not None:
        check_arguments(name, accepted, kwargs)


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

"""The shared builder: the arguments every model builder takes, and the head.

Every public builder takes Keras' keras.applications arguments
(``include_top``, ``input_shape``, ``input_tensor``, ``pooling``,
``num_classes``, ``classifier_activation``, ``weights``, ``name``) and the
package's ``width_multiplier``, ``use_skip`` and ``normalization``. They are
written once, as the signature and the Args of ``check_arguments``. The
``builder`` decorator hands them to a builder, which then declares only what
is its own::

    @builder()
    def resnet18(**options) -> keras.Model:
        return build_resnet(RESNET18, **options)

``inspect.signature(resnet18)`` lists every argument with its default
(``name="resnet18"``), ``help(resnet18)`` shows the shared Args lines, and
each call is checked by ``check_arguments`` before anything is built.
``assemble`` wires the input, a body and the classifier head.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterable
from typing import TypeVar

import keras

from keras_resnet._validation import check_int, check_number, fail
from keras_resnet.models import pretrained
from keras_resnet.models.blocks import (
    POOLING_MODES,
    check_normalization,
    classifier_head,
)
from keras_resnet.models.catalog import check_width_multiplier
from keras_resnet.models.layers import avoid_strided_1x1_bug

DEFAULT_INPUT_SHAPE = (32, 32, 3)
MIN_SIZE = 32
# Section headers that end the Args section of a Google-style docstring.
_SECTIONS = ("Args:", "Returns:", "Raises:", "Example:", "Examples:")

Builder = TypeVar("Builder", bound=Callable[..., keras.Model])


def check_arguments(
    *,
    include_top: bool = True,
    input_shape: tuple | None = None,
    input_tensor: keras.KerasTensor | None = None,
    pooling: str | None = None,
    num_classes: int = 10,
    classifier_activation: str | None = "softmax",
    width_multiplier: float = 1.0,
    use_skip: bool = True,
    normalization: str = "batch",
    weights: str | os.PathLike | None = None,
    name: str | None = None,
) -> None:
    """Raise ``ValueError`` for an invalid shared builder argument.

    Its signature and Args are those of every builder (``builder`` gives
    them to each), so each default and each description is written here
    only.

    Args:
        include_top: Whether to add global average pooling (``avg_pool``)
            and the ``num_classes``-way dense classifier (``fc``,
            ``predictions``).
        input_shape: ``(height, width, channels)``; default ``(32, 32, 3)``.
            Height and width must be at least 32 (or None for any size).
        input_tensor: Optional Keras tensor (from ``keras.Input`` or a layer
            call) to use as the model input.
        pooling: Without the top: None (the feature map), ``"avg"`` or
            ``"max"``.
        num_classes: Classes of the classifier.
        classifier_activation: Activation of the ``predictions`` layer
            (None returns logits).
        width_multiplier: Scales every layer's filters (a DenseNet's growth
            rate); at most 16.
        use_skip: False removes every shortcut: no identity, no projection,
            no ``Add``; every other layer keeps its name.
        normalization: ``"batch"`` (default): BatchNormalization after every
            convolution. ``"none"``: no BatchNormalization layer (a BN-ReLU
            becomes a ReLU), every convolution with a bias, He-normal
            (fan-in) kernels as with BN, which keep a plain ReLU net's
            signal at a constant scale (He et al., 2015); residual branches
            are not rescaled (see ``keras_resnet.models.blocks``). Every
            convolution, activation and the classifier keep their names.
        weights: None, the path of a ``.weights.h5`` / ``.keras`` file
            with weights for exactly this architecture, or the name of
            weights shipped with the package (``weights_choices(model)``
            lists them); the model then takes raw pixels (a
            ``normalization`` layer first) and the weights fix the
            architecture arguments and, with the top, ``num_classes``.
        name: Model name; default: the builder's name.

    Raises:
        ValueError: Naming the first invalid argument, ending in
            ``Received: name=value``.
    """
    if not isinstance(include_top, bool):
        fail("include_top", include_top, "must be True or False")
    if input_shape is not None:
        _check_input_shape(input_shape)
    if input_tensor is not None and not keras.backend.is_keras_tensor(input_tensor):
        fail(
            "input_tensor",
            input_tensor,
            "must be a Keras tensor (from keras.Input or a layer call)",
        )
    if pooling not in POOLING_MODES:
        fail("pooling", pooling, "must be one of None, 'avg', 'max'")
    check_int("num_classes", num_classes)
    if classifier_activation is not None:
        try:
            keras.activations.get(classifier_activation)
        except (ValueError, TypeError):
            fail(
                "classifier_activation",
                classifier_activation,
                "must be None or a Keras activation name",
            )
    check_width_multiplier(width_multiplier)
    if not isinstance(use_skip, bool):
        fail("use_skip", use_skip, "must be True or False")
    check_normalization(normalization)
    if weights is not None and not (
        isinstance(weights, str | os.PathLike) and os.path.isfile(weights)
    ):
        fail(
            "weights",
            weights,
            "must be None, the path of an existing weights file, or a "
            "pretrained name (keras_resnet.models.weights_choices)",
        )


_SHARED = inspect.signature(check_arguments).parameters


def builder(*, without: Iterable[str] = ()) -> Callable[[Builder], Builder]:
    """Give a builder the shared arguments of ``check_arguments``.

    The decorated function declares its own arguments and ``**options``.
    Its signature becomes its own arguments followed by the shared ones
    (less ``without``), ``name`` defaulting to the function's name; its
    docstring gains the shared Args lines; each call is bound to that
    signature (an unknown argument is a ``TypeError``, as for any
    function), checked by ``check_arguments``, and passed on with every
    default filled in. A shared argument the function names itself without
    a default (to use it in its body) keeps the shared default; one it
    gives a default (``name``) takes that default.

    Args:
        without: Shared arguments the builder does not take (``use_skip``
            for a network without shortcuts).

    Returns:
        The decorator.

    Example:
        >>> @builder(without=("use_skip",))
        ... def plain(*, depth: int = 4, **options) -> keras.Model:
        ...     return assemble(lambda x: x, **options)
        >>> ", ".join(list(inspect.signature(plain).parameters)[:2])
        'depth, include_top'
    """
    without = frozenset(without)
    unknown = sorted(without - set(_SHARED))
    if unknown:
        fail("without", unknown, f"must name shared arguments ({', '.join(_SHARED)})")

    def decorate(function: Builder) -> Builder:
        signature = _merged_signature(function, without)

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            shared = {
                key: bound.arguments[key] for key in _SHARED if key not in without
            }
            # A pretrained name (weights="cifar10") is looked up by the
            # builder's name; pretrained.py builds and loads the model.
            weights = shared.get("weights")
            entry = pretrained.find_pretrained(function.__name__, weights)
            check_arguments(**{**shared, "weights": None if entry else weights})
            if entry is None:
                return function(*bound.args, **bound.kwargs)
            pretrained.check_pretrained_arguments(entry, bound.arguments)
            return pretrained.build_pretrained(
                wrapper, bound.arguments, entry, DEFAULT_INPUT_SHAPE
            )

        wrapper.__signature__ = signature
        wrapper.__doc__ = _merged_doc(function.__doc__, signature, without)
        return wrapper

    return decorate


def _merged_signature(function: Callable, without: frozenset) -> inspect.Signature:
    own = inspect.signature(function)
    if not any(p.kind is p.VAR_KEYWORD for p in own.parameters.values()):
        raise TypeError(f"{function.__name__} must take **options")
    declared = {
        key: p for key, p in own.parameters.items() if p.kind is not p.VAR_KEYWORD
    }
    extra = [p for key, p in declared.items() if key not in _SHARED]
    shared = []
    for key, parameter in _SHARED.items():
        if key in without:
            continue
        mine = declared.get(key)
        if mine is not None and mine.default is not mine.empty:
            parameter = mine
        elif key == "name":
            parameter = parameter.replace(default=function.__name__, annotation="str")
        shared.append(parameter)
    return own.replace(parameters=[*extra, *shared])


def _merged_doc(doc: str | None, signature: inspect.Signature, without) -> str:
    """``doc`` with the shared Args lines for the arguments it leaves out."""
    lines = inspect.cleandoc(doc or "").splitlines()
    own = _args_entries(lines)
    shared = _args_entries(inspect.cleandoc(check_arguments.__doc__).splitlines())
    added = [
        line
        for key, entry in shared.items()
        if key in signature.parameters and key not in own and key not in without
        for line in entry
    ]
    if "Args:" in lines:
        at = lines.index("Args:") + 1
        while at < len(lines) and lines[at].startswith(" "):
            at += 1
        return "\n".join([*lines[:at], *added, *lines[at:]])
    at = next((i for i, line in enumerate(lines) if line in _SECTIONS), len(lines))
    section = ["Args:", *added, ""]
    if at == len(lines):
        section = ["", *section[:-1]]
    return "\n".join([*lines[:at], *section, *lines[at:]])


def _args_entries(lines: list[str]) -> dict[str, list[str]]:
    """Argument name -> its lines in the Args section of a cleaned docstring."""
    entries: dict[str, list[str]] = {}
    if "Args:" not in lines:
        return entries
    for line in lines[lines.index("Args:") + 1 :]:
        if not line.startswith(" "):
            break
        if not line.startswith("     "):  # an entry: four spaces, then its name
            entries[line.strip().split(":")[0].lstrip("*")] = []
        entries[next(reversed(entries))].append(line)
    return entries


def _check_input_shape(input_shape) -> None:
    rule = (
        f"must be (height, width, channels) with height and width >= {MIN_SIZE} "
        "(or None) and channels >= 1"
    )
    try:
        height, width, channels = input_shape
    except (TypeError, ValueError):
        fail("input_shape", input_shape, rule)
    for size in (height, width):
        if size is not None and (not isinstance(size, int) or size < MIN_SIZE):
            fail("input_shape", input_shape, rule)
    if not isinstance(channels, int) or channels < 1:
        fail("input_shape", input_shape, rule)


def _load_weights(model: keras.Model, weights) -> None:
    path = os.fspath(weights)
    if path.endswith(".keras"):
        source = keras.saving.load_model(path, compile=False)
        model.set_weights(source.get_weights())
    else:
        model.load_weights(path)


@builder(without=("width_multiplier", "use_skip", "normalization"))
def assemble(
    stack: Callable, *, name: str = "model", dropout: float = 0.0, **options
) -> keras.Model:
    """Wire the input, ``stack`` and the classifier head; load weights.

    The body-agnostic half of every builder: ``stack`` maps the input tensor
    to the final feature map, the rest follows keras.applications. The
    model's narrow strided 1x1 convolutions avoid a oneDNN kernel bug
    (``keras_resnet.models.layers.avoid_strided_1x1_bug``).

    Args:
        stack: Function mapping the input tensor to the final feature map.
        name: Model name.
        dropout: Dropout rate before the classifier (``head_dropout``).

    Returns:
        A Functional ``keras.Model``.

    Example:
        >>> model = assemble(
        ...     lambda x: keras.layers.Conv2D(8, 3, name="conv")(x), name="tiny"
        ... )
    """
    check_number("dropout", dropout, below=1.0)
    input_tensor = options["input_tensor"]
    if input_tensor is None:
        shape = tuple(options["input_shape"] or DEFAULT_INPUT_SHAPE)
        inputs = model_inputs = keras.Input(shape=shape, name="images")
    else:
        inputs = input_tensor
        model_inputs = keras.utils.get_source_inputs(input_tensor)
    outputs = classifier_head(
        stack(inputs),
        include_top=options["include_top"],
        pooling=options["pooling"],
        num_classes=options["num_classes"],
        classifier_activation=options["classifier_activation"],
        dropout=dropout,
    )
    model = keras.Model(model_inputs, outputs, name=name)
    if options["weights"] is not None:
        _load_weights(model, options["weights"])
    # With oneDNN on, plain model.fit would otherwise reach a wrong kernel.
    avoid_strided_1x1_bug(model)
    return model


__all__ = ["DEFAULT_INPUT_SHAPE", "MIN_SIZE", "assemble", "builder", "check_arguments"]

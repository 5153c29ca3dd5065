"""Training options shared by every command that trains (``fit``, ``compare``).

Every ``TrainConfig`` field is defined here once, as a click option whose
default is ``None`` ("not given"), so the precedence is:

    TrainConfig defaults  <  --config FILE  <  options given on the command line

Usage in a command::

    @click.command()
    @training_options
    def compare(training: TrainingOptions, models):
        config = resolve_config(training, model="resnet18")

The decorated function receives one keyword argument, ``training``, holding
everything the options parsed; ``resolve_config`` turns it into a validated
``TrainConfig``.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable
from typing import Any

import click
import yaml

from keras_resnet.cli.output import (
    FiniteFloatRange,
    WidthMultiplierType,
    without_received,
)
from keras_resnet.data.choices import AUGMENTS
from keras_resnet.models.catalog import NORMALIZATIONS
from keras_resnet.train.config import (
    OPTIMIZERS,
    PRECISIONS,
    REMOVED_STRATEGIES,
    SCHEDULES,
    STRATEGIES,
    TrainConfig,
    check_strategy_backend,
    read_yaml,
)

# Fields that are not a plain option of their own: ``model`` is the command's
# argument, ``model_options`` comes from --model-option and --skip/--no-skip.
_NOT_OPTIONS = ("model", "model_options")


@dataclasses.dataclass(frozen=True)
class ConfigFile:
    """A ``--config`` YAML file, already read and checked.

    Attributes:
        path: The file as given on the command line.
        values: Its mapping of ``TrainConfig`` keys to values.
        models: ``keras-resnet compare`` only: the study's models from the
            file's ``models`` key (``keras_resnet.study.StudyModel``s), or
            None when it has none.
    """

    path: str
    values: dict[str, Any]
    models: list | None = None


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """What ``training_options`` parsed from the command line.

    Attributes:
        config_file: The ``--config`` file, or None.
        fields: ``TrainConfig`` field name -> value for every option given
            on the command line (options not given are absent).
        model_options: ``--model-option KEY=VALUE`` pairs, in order.
        skip: ``--skip`` (True), ``--no-skip`` (False) or not given (None).
        normalization: ``--normalization`` or None when not given.
    """

    config_file: ConfigFile | None = None
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)
    model_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    skip: bool | None = None
    normalization: str | None = None


class KeyValueType(click.ParamType):
    """``KEY=VALUE`` with the value parsed as YAML (``3``, ``true``, ``[1, 2]``)."""

    name = "KEY=VALUE"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        key, sep, raw = str(value).partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            self.fail(f"expected KEY=VALUE with a Python name as KEY, got {value!r}")
        try:
            return key, yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as error:
            self.fail(f"the value of {key} is not valid YAML: {error}")


class _StrategyChoice(click.Choice):
    """``click.Choice`` that says what replaced a removed strategy."""

    def convert(self, value, param, ctx):
        if value in REMOVED_STRATEGIES:
            self.fail(f"{value} was removed: {REMOVED_STRATEGIES[value]}.")
        return super().convert(value, param, ctx)


class IntListType(click.ParamType):
    """A comma-separated list of non-negative integers (``0,10,50``)."""

    name = "INT,INT,..."

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        parts = [part.strip() for part in str(value).split(",") if part.strip()]
        try:
            numbers = [int(part) for part in parts]
        except ValueError:
            self.fail(f"expected comma-separated integers, got {value!r}")
        if any(number < 0 for number in numbers):
            self.fail(f"expected integers >= 0, got {value!r}")
        return numbers


def _read_config_file(ctx: click.Context, param: click.Parameter, value):
    """Eager ``--config`` callback: read the YAML file and check every key."""
    if value is None or ctx.resilient_parsing:
        return None
    models = None
    try:
        values = read_yaml(value)
        # A study's file may name its models (labelled variants included).
        if "models" in values:
            if ctx.info_name != "compare":
                raise ValueError(
                    f"{value} is a study ('models' lists several models), read "
                    f"by keras-resnet compare; {ctx.info_name} trains one model: "
                    "name it as MODEL or with the 'model' key."
                )
            models = _study_models(values.pop("models"), value)
        TrainConfig.from_dict(values, source=value)
    except (ValueError, OSError) as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None
    return ConfigFile(path=value, values=values, models=models)


def _study_models(value, path: str) -> list:
    from keras_resnet.cli.output import known_models, unknown_model_message
    from keras_resnet.study.comparison import parse_study_models

    try:
        models = parse_study_models(value)
    except ValueError as error:
        raise ValueError(f"{path}: {without_received(error)}") from None
    known = known_models()
    for entry in models:
        if entry.model not in known:
            message = unknown_model_message(entry.model, known)
            raise ValueError(f"{path}: models: {entry.label}: {message}")
    return models


def _open_float(minimum: float, maximum: float) -> FiniteFloatRange:
    return FiniteFloatRange(minimum, maximum, max_open=True)


# (field, option declarations, click keyword arguments), in --help order.
_FIELD_OPTIONS: list[tuple[str, tuple[str, ...], dict[str, Any]]] = [
    (
        "dataset",
        ("--dataset",),
        dict(
            metavar="NAME|PATH",
            help="TFDS name (cifar10, cifar100), a CIFAR archive or folder, an "
            "image-folder tree or .tar.gz, an .npz, or 'synthetic'.",
        ),
    ),
    (
        "data_dir",
        ("--data-dir",),
        dict(type=click.Path(file_okay=False), help="TFDS data directory."),
    ),
    (
        "epochs",
        ("--epochs",),
        dict(type=click.IntRange(min=1), help="Training epochs."),
    ),
    (
        "batch_size",
        ("--batch-size",),
        dict(
            type=click.IntRange(min=1),
            help="Global batch size (over all replicas).",
        ),
    ),
    (
        "optimizer",
        ("--optimizer",),
        dict(type=click.Choice(OPTIMIZERS), help="Optimizer."),
    ),
    (
        "learning_rate",
        ("--learning-rate", "--lr"),
        dict(
            type=FiniteFloatRange(min=0, min_open=True),
            help="Peak learning rate.",
        ),
    ),
    (
        "momentum",
        ("--momentum",),
        dict(type=FiniteFloatRange(min=0), help="SGD momentum."),
    ),
    (
        "nesterov",
        ("--nesterov/--no-nesterov",),
        dict(default=None, help="Nesterov momentum for SGD."),
    ),
    (
        "weight_decay",
        ("--weight-decay",),
        dict(
            type=FiniteFloatRange(min=0),
            help="Weight decay on conv and dense kernels.",
        ),
    ),
    (
        "schedule",
        ("--schedule",),
        dict(
            type=click.Choice(SCHEDULES),
            help="Learning-rate schedule.",
        ),
    ),
    (
        "warmup_epochs",
        ("--warmup-epochs",),
        dict(
            type=FiniteFloatRange(min=0),
            help="Linear warm-up epochs of the cosine schedule.",
        ),
    ),
    (
        "label_smoothing",
        ("--label-smoothing",),
        dict(type=_open_float(0, 1), help="Label smoothing."),
    ),
    (
        "width_multiplier",
        ("--width-multiplier",),
        dict(type=WidthMultiplierType(), help="Scale every layer's filters."),
    ),
    (
        "max_train_examples",
        ("--max-train-examples",),
        dict(
            type=click.IntRange(min=1),
            help="Use at most N training examples.",
        ),
    ),
    (
        "max_test_examples",
        ("--max-test-examples",),
        dict(
            type=click.IntRange(min=1),
            help="Evaluate on at most N test examples.",
        ),
    ),
    (
        "validation_split",
        ("--validation-split",),
        dict(
            type=_open_float(0, 1),
            help="Fraction of the training split held out.",
        ),
    ),
    (
        "augment",
        ("--augment",),
        dict(
            type=click.Choice(AUGMENTS),
            help="Pad-and-crop + flip, or none.",
        ),
    ),
    (
        "cutout",
        ("--cutout",),
        dict(
            type=click.IntRange(min=0),
            help="Cutout square side in pixels (0: off).",
        ),
    ),
    (
        "mixup_alpha",
        ("--mixup-alpha",),
        dict(type=FiniteFloatRange(min=0), help="Mixup alpha (0: off)."),
    ),
    (
        "cutmix_alpha",
        ("--cutmix-alpha",),
        dict(type=FiniteFloatRange(min=0), help="CutMix alpha (0: off)."),
    ),
    (
        "precision",
        ("--precision",),
        dict(
            type=click.Choice(PRECISIONS),
            help="Dtype policy; mixed_bfloat16 on recent GPUs.",
        ),
    ),
    (
        "jit_compile",
        ("--jit-compile/--no-jit-compile",),
        dict(
            default=None,
            help="Compile the train step with XLA. [default: on with a GPU or "
            "on JAX, off on a CPU with TensorFlow, where it is slower]",
        ),
    ),
    (
        "steps_per_execution",
        ("--steps-per-execution",),
        dict(
            type=click.IntRange(min=1),
            help="Train steps per compiled call.",
        ),
    ),
    (
        "strategy",
        ("--strategy",),
        dict(
            type=_StrategyChoice(STRATEGIES),
            help="Distribution: mirrored (TensorFlow, one host) or data_parallel "
            "(JAX, one process per host; docs/distributed.md).",
        ),
    ),
    (
        "seed",
        ("--seed",),
        dict(type=int, help="Seed for weights, data order, augmentation."),
    ),
    (
        "grad_norm_every",
        ("--grad-norm-every",),
        dict(
            type=click.IntRange(min=0),
            help="Record per-layer gradient norms every N epochs (0: off).",
        ),
    ),
    (
        "grad_norm_steps",
        ("--grad-norm-steps",),
        dict(
            type=IntListType(),
            help="First-epoch steps at which gradient norms are also recorded.",
        ),
    ),
    (
        "grad_probe_size",
        ("--grad-probe-size",),
        dict(
            type=click.IntRange(min=1),
            help="Images in the class-balanced gradient probe (default 512).",
        ),
    ),
    (
        "output_dir",
        ("--output-dir", "-o"),
        dict(
            type=click.Path(file_okay=False),
            help="Run directory.",
        ),
    ),
    (
        "verbose",
        ("--verbose",),
        dict(
            type=click.IntRange(0, 2),
            help="Keras fit verbosity: 0 silent, 1 progress bar, 2 a line per epoch.",
        ),
    ),
]


class YamlValueType(click.ParamType):
    """A value parsed as YAML, for fields without a dedicated option type."""

    name = "YAML"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError as error:
            self.fail(f"not valid YAML: {error}")


def _generic_option(field: dataclasses.Field) -> tuple[str, tuple[str, ...], dict]:
    """An option for a TrainConfig field added after this module was written."""
    flag = "--" + field.name.replace("_", "-")
    types = {int: int, float: float, str: str}
    hint = typing.get_type_hints(TrainConfig)[field.name]
    if hint is bool:
        return field.name, (f"{flag}/--no-{flag[2:]}",), dict(default=None, help="")
    return field.name, (flag,), dict(type=types.get(hint, YamlValueType()), help="")


def _all_field_options() -> list[tuple[str, tuple[str, ...], dict[str, Any]]]:
    known = {field for field, _, _ in _FIELD_OPTIONS}
    extra = [
        _generic_option(field)
        for field in dataclasses.fields(TrainConfig)
        if field.name not in known and field.name not in _NOT_OPTIONS
    ]
    return _FIELD_OPTIONS + extra


def option_fields() -> list[str]:
    """``TrainConfig`` fields that ``training_options`` adds an option for."""
    return [field for field, _, _ in _all_field_options()]


# Shown instead of TrainConfig's default where that default is None.
_DEFAULT_TEXT = {
    "data_dir": "TFDS' own",
    "max_train_examples": "all",
    "max_test_examples": "all",
    "output_dir": "runs/<model>-<timestamp>",
}


def _default_text(field: str) -> str:
    if field in _DEFAULT_TEXT:
        return _DEFAULT_TEXT[field]
    default = TrainConfig().to_dict()[field]
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, list):
        return ",".join(str(item) for item in default)
    return str(default)


def _field_option(field: str, declarations: tuple[str, ...], kwargs: dict):
    # The default is None ("not given"); the help shows TrainConfig's default.
    help_text = f"{kwargs['help']}  [default: {_default_text(field)}]".strip()
    kwargs = {**kwargs, "help": help_text}
    return click.option(*declarations, field, **kwargs)


def training_options(func: Callable) -> Callable:
    """Decorator adding every training option to a click command.

    Adds ``--config FILE``, one option per ``TrainConfig`` field (except
    ``model`` and ``model_options``), ``--model-option KEY=VALUE``
    (repeatable) and ``--skip/--no-skip``. The command receives them
    gathered into one keyword argument, ``training`` (a
    ``TrainingOptions``); pass it to ``resolve_config``.

    Args:
        func: The command function; it must accept ``training``.

    Returns:
        The function with the options attached.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        fields = {}
        for field in option_fields():
            value = kwargs.pop(field)
            if value is not None:
                fields[field] = value
        training = TrainingOptions(
            config_file=kwargs.pop("config_file"),
            fields=fields,
            model_options=dict(kwargs.pop("model_option")),
            skip=kwargs.pop("skip"),
            normalization=kwargs.pop("normalization"),
        )
        return func(*args, training=training, **kwargs)

    decorators = [
        click.option(
            "--config",
            "config_file",
            type=click.Path(exists=True, dir_okay=False),
            is_eager=True,
            callback=_read_config_file,
            metavar="FILE",
            help="YAML file of TrainConfig keys (see configs/); options given "
            "on the command line override it.",
        ),
        *(_field_option(*entry) for entry in _all_field_options()),
        click.option(
            "--model-option",
            "model_option",
            type=KeyValueType(),
            multiple=True,
            help="Extra builder argument, repeatable; VALUE is YAML "
            "(e.g. blocks_per_stage=5).",
        ),
        click.option(
            "--skip/--no-skip",
            "skip",
            default=None,
            help="Keep or remove the shortcuts (models with skip connections only).",
        ),
        click.option(
            "--normalization",
            type=click.Choice(NORMALIZATIONS),
            default=None,
            help="Batch normalization in every block ('batch', the default) or "
            "none, to see gradients without it (lower --lr).",
        ),
    ]
    for decorator in reversed(decorators):
        wrapper = decorator(wrapper)
    return wrapper


def resolve_config(
    training: TrainingOptions, *, model: str | None = None
) -> TrainConfig:
    """Merge TrainConfig defaults, the ``--config`` file and explicit options.

    Args:
        training: What ``training_options`` parsed.
        model: The model named on the command line; overrides the file's
            ``model`` key. If None, the file's (or TrainConfig's) model.

    Returns:
        The validated ``TrainConfig``.

    Raises:
        click.BadParameter: ``--skip/--no-skip`` for a model without skip
            connections, or a ``--model-option`` its builder does not take
            (usage errors, exit 2).
        ValueError: An invalid combination of values, or a strategy the
            backend Keras will use cannot run (found before Keras starts).
    """
    source = "the command line"
    values: dict[str, Any] = {}
    if training.config_file is not None:
        values.update(training.config_file.values)
        source = f"{training.config_file.path} and the command line"
    values.update(training.fields)
    if model is not None:
        values["model"] = model
    model_options = dict(values.get("model_options") or {})
    model_options.update(training.model_options)
    _check_model_options(values.get("model", TrainConfig.model), training)
    if training.skip is not None:
        _check_skip(values.get("model", TrainConfig.model))
        model_options["use_skip"] = training.skip
    if training.normalization is not None:
        model_options["normalization"] = training.normalization
    values["model_options"] = model_options
    config = TrainConfig.from_dict(values, source=source)
    from keras_resnet.cli import keras_backend

    check_strategy_backend(config.strategy, keras_backend())
    return config


def _check_model_options(model: str, training: TrainingOptions) -> None:
    """A usage error (exit 2) for a --model-option the builder does not take.

    A built-in model is checked against its catalog entry, without importing
    Keras; a model registered at run time against its builder.
    """
    if not training.model_options:
        return
    from keras_resnet.models.catalog import CATALOG, check_arguments

    try:
        if model in CATALOG:
            accepted = CATALOG[model].arguments
            if accepted is not None:
                check_arguments(model, accepted, training.model_options)
            return
        # Imported here: the registry imports keras, which --help does not need.
        from keras_resnet.models import list_models
        from keras_resnet.models.registry import check_builder_kwargs

        if model in list_models():  # else the unknown model is reported when built
            check_builder_kwargs(model, training.model_options)
    except ValueError as error:
        raise click.BadParameter(
            without_received(error), param_hint="'--model-option'"
        ) from None


def _check_skip(model: str) -> None:
    from keras_resnet.models.catalog import CATALOG

    if model in CATALOG:  # a built-in model: no Keras needed
        has_skip = CATALOG[model].has_skip
    else:
        # Imported here: the registry imports keras, which --help does not need.
        from keras_resnet.models import get_model_info

        has_skip = get_model_info(model).has_skip
    if not has_skip:
        raise click.BadParameter(
            f"model {model!r} has no skip connections to switch.",
            param_hint="'--skip' / '--no-skip'",
        )

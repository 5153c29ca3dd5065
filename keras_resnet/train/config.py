"""The training configuration: every hyper-parameter of a run, in one place.

The field names are the command line's long option names with underscores
(``--batch-size`` is ``batch_size``) and the keys of the YAML files in
``configs/``. A run writes its resolved config to ``config.yaml``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing
from typing import Any

import yaml

from keras_resnet._validation import check_int

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "onecycle", "step", "constant")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("auto", "default", "mirrored", "multiworker")


@dataclasses.dataclass
class TrainConfig:
    """All hyper-parameters of a training run.

    Attributes:
        model: Registered model name (see ``keras_resnet.list_models()``).
        dataset: Data source for ``keras_resnet.data.load_dataset``: a TFDS
            name, a path (CIFAR archive or folder, image-folder tree,
            ``.npz``) or ``"synthetic"``.
        data_dir: TFDS data directory.
        epochs: Training epochs.
        batch_size: Global batch size (over all replicas).
        optimizer: ``"sgd"`` (momentum) or ``"adamw"``.
        learning_rate: Peak learning rate.
        momentum: SGD momentum.
        nesterov: Nesterov momentum for SGD.
        weight_decay: Weight decay, applied to conv and dense kernels only.
        schedule: ``"cosine"`` (with linear warm-up), ``"onecycle"``,
            ``"step"`` (divide by 10 at 50% and 75% of training, He et al.)
            or ``"constant"``.
        warmup_epochs: Linear warm-up epochs for the cosine schedule.
        label_smoothing: Label smoothing of the cross-entropy loss.
        width_multiplier: Scales every layer's filters.
        model_options: Extra builder arguments (e.g. ``blocks_per_stage``).
        max_train_examples: Use at most this many training examples.
        max_test_examples: Evaluate on at most this many test examples.
        validation_split: Fraction of the training split held out.
        augment: ``"standard"`` (4-pixel pad-and-crop + horizontal flip) or
            ``"none"``.
        cutout: Side of the cutout square in pixels (0: off).
        mixup_alpha: Mixup Beta(alpha, alpha) parameter (0: off).
        cutmix_alpha: CutMix Beta(alpha, alpha) parameter (0: off).
        precision: ``"float32"``, ``"mixed_float16"`` or ``"mixed_bfloat16"``.
        jit_compile: Compile the train step with XLA.
        steps_per_execution: Train steps per compiled call.
        strategy: ``"auto"``, ``"default"``, ``"mirrored"`` or
            ``"multiworker"`` (TensorFlow backend).
        seed: Seed for weights, data order and augmentation.
        deterministic: TensorFlow op determinism (bit-identical reruns and
            resumes). None: on when TensorFlow sees no GPU. Keras turns XLA
            off while it is on, so ``jit_compile`` then has no effect.
        grad_norm_every: Record per-layer gradient norms every N epochs
            (0: off).
        grad_norm_steps: Steps of the first epoch at which gradient norms are
            also recorded.
        grad_probe_size: Images in the gradient probe: a fixed,
            class-balanced draw from the training split with ``seed``.
        output_dir: Run directory; default ``runs/<model>-<timestamp>``.
        verbose: Keras fit verbosity (0 silent, 1 progress bar, 2 a line
            per epoch).
    """

    model: str = "resnet18"
    dataset: str = "cifar10"
    data_dir: str | None = None
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "sgd"
    learning_rate: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    width_multiplier: float = 1.0
    model_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    max_train_examples: int | None = None
    max_test_examples: int | None = None
    validation_split: float = 0.1
    augment: str = "standard"
    cutout: int = 0
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    precision: str = "float32"
    jit_compile: bool = True
    steps_per_execution: int = 1
    strategy: str = "auto"
    seed: int = 0
    deterministic: bool | None = None
    grad_norm_every: int = 1
    grad_norm_steps: list[int] = dataclasses.field(
        default_factory=lambda: [0, 10, 50, 100]
    )
    grad_probe_size: int = 512
    output_dir: str | None = None
    verbose: int = 1

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field."""
        _positive_int(
            self, "epochs", "batch_size", "steps_per_execution", "grad_probe_size"
        )
        _positive_number(self, "learning_rate", "width_multiplier")
        _non_negative(
            self,
            "weight_decay",
            "warmup_epochs",
            "momentum",
            "cutout",
            "mixup_alpha",
            "cutmix_alpha",
            "grad_norm_every",
        )
        _choice(self, "optimizer", OPTIMIZERS)
        _choice(self, "schedule", SCHEDULES)
        _choice(self, "precision", PRECISIONS)
        _choice(self, "strategy", STRATEGIES)
        _choice(self, "augment", ("standard", "none"))
        if not 0.0 <= self.label_smoothing < 1.0:
            _fail("label_smoothing", self.label_smoothing, "must be in [0, 1)")
        if not 0.0 <= self.validation_split < 1.0:
            _fail("validation_split", self.validation_split, "must be in [0, 1)")
        for name in ("max_train_examples", "max_test_examples"):
            check_int(name, getattr(self, name), allow_none=True)
        if any(not isinstance(s, int) or s < 0 for s in self.grad_norm_steps):
            _fail("grad_norm_steps", self.grad_norm_steps, "must be integers >= 0")
        if self.deterministic is not None and not isinstance(self.deterministic, bool):
            _fail("deterministic", self.deterministic, "must be true, false or None")
        if not isinstance(self.model_options, dict):
            _fail("model_options", self.model_options, "must be a mapping")

    # -- (de)serialization -------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of every field, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(
        cls, values: dict[str, Any], *, source: str = "config"
    ) -> TrainConfig:
        """Build a config from a mapping; unknown keys are an error.

        Args:
            values: Field values; missing fields take their defaults.
            source: What the values came from (a file name), for messages.

        Raises:
            ValueError: For an unknown key (naming it and ``source``) or an
                invalid value.
        """
        known = set(cls.field_names())
        for key in values:
            if key not in known:
                raise ValueError(
                    f"Unknown key {key!r} in {source}; known keys: "
                    f"{', '.join(sorted(known))}. Received: key={key!r}"
                )
        hints = typing.get_type_hints(cls)
        coerced = {key: _coerce(hints[key], value) for key, value in values.items()}
        return cls(**coerced)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> TrainConfig:
        """Load a config from a YAML file (see ``read_yaml``)."""
        return cls.from_dict(read_yaml(path), source=os.fspath(path))

    def to_yaml(self, path: str | os.PathLike) -> None:
        """Write every field to ``path`` as YAML."""
        with open(path, "w", encoding="utf-8") as stream:
            yaml.safe_dump(self.to_dict(), stream, sort_keys=False)

    def replace(self, **changes) -> TrainConfig:
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping of config keys.

    Raises:
        ValueError: If the file cannot be parsed or is not a mapping.
    """
    try:
        with open(path, encoding="utf-8") as stream:
            values = yaml.safe_load(stream)
    except yaml.YAMLError as error:
        raise ValueError(f"{os.fspath(path)} is not valid YAML: {error}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(
            f"{os.fspath(path)} must hold a mapping of config keys. "
            f"Received: {type(values).__name__}"
        )
    return values


def _coerce(hint, value):
    # YAML reads "5e-4" as a string and "1" as an int; accept what a user
    # plainly meant for numeric fields.
    if value is None:
        return None
    if hint in (float, float | None) and isinstance(value, int | str):
        if isinstance(value, bool):
            return value
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _fail(name: str, value, rule: str):
    raise ValueError(f"{name} {rule}. Received: {name}={value!r}")


def _positive_int(config, *names):
    for name in names:
        check_int(name, getattr(config, name))


def _positive_number(config, *names):
    for name in names:
        value = getattr(config, name)
        if not _finite(value) or value <= 0:
            _fail(name, value, "must be a positive finite number")


def _non_negative(config, *names):
    for name in names:
        value = getattr(config, name)
        if not _finite(value) or value < 0:
            _fail(name, value, "must be a finite number >= 0")


def _finite(value) -> bool:
    """A real number (not a bool), neither nan nor infinite."""
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
    )


def _choice(config, name, choices):
    value = getattr(config, name)
    if value not in choices:
        _fail(name, value, f"must be one of {', '.join(choices)}")

"""The training configuration: every hyper-parameter of a run, in one place.

The field names are the command line's long option names with underscores
(``--batch-size`` is ``batch_size``) and the keys of the YAML files in
``configs/``. A run writes its resolved config to ``config.yaml``.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from typing import Any

import yaml

from keras_resnet._validation import check_choice, check_int, check_number, fail
from keras_resnet.data.choices import AUGMENTS

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "onecycle", "step", "constant")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("auto", "default", "mirrored", "data_parallel")
# Strategies that no longer exist, with what to use instead.
REMOVED_STRATEGIES = {
    "multiworker": "TensorFlow's MultiWorkerMirroredStrategy fails inside "
    "Keras 3 (keras-team/keras#20585); use data_parallel with KERAS_BACKEND=jax "
    "(docs/distributed.md)",
}


def check_strategy(name) -> None:
    """Raise ``ValueError`` unless ``name`` is one of ``STRATEGIES``.

    A removed strategy's message says what replaced it.
    """
    if name in REMOVED_STRATEGIES:
        raise ValueError(
            f"strategy {name} was removed: {REMOVED_STRATEGIES[name]}. "
            f"Received: strategy={name!r}"
        )
    check_choice("strategy", name, STRATEGIES)


def check_strategy_backend(name: str, backend: str) -> None:
    """Raise ``ValueError`` for a strategy the Keras backend cannot run.

    Keras-free: the engine passes ``keras.backend.backend()``, the command
    line the backend Keras will pick, so it refuses before Keras starts.

    Args:
        name: A strategy of ``STRATEGIES``.
        backend: ``"tensorflow"``, ``"jax"``, ...
    """
    if name == "data_parallel" and backend != "jax":
        raise ValueError(
            f"strategy data_parallel needs the jax backend (KERAS_BACKEND=jax), "
            f"not {backend}; on one TensorFlow host use mirrored. "
            f"Received: strategy={name!r}"
        )
    if name == "mirrored" and backend != "tensorflow":
        raise ValueError(
            "strategy mirrored needs the tensorflow backend; on jax use "
            f"data_parallel. Received: strategy={name!r}"
        )


_NON_NEGATIVE = (
    "weight_decay",
    "warmup_epochs",
    "momentum",
    "cutout",
    "mixup_alpha",
    "cutmix_alpha",
    "grad_norm_every",
)


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
        jit_compile: Compile the train step with XLA. None: Keras'
            ``"auto"``: on with a GPU or TPU and on the JAX backend, off on
            a CPU-only TensorFlow (where XLA is slower: docs/benchmarks.md)
            and on PyTorch.
        steps_per_execution: Train steps per compiled call.
        strategy: ``"auto"`` (mirrored on TensorFlow with several GPUs,
            else none), ``"default"`` (none), ``"mirrored"`` (TensorFlow,
            one host) or ``"data_parallel"`` (JAX: every device of every
            process; see ``keras_resnet.train.distribute``).
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
    jit_compile: bool | None = None
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
        for name in ("epochs", "batch_size", "steps_per_execution", "grad_probe_size"):
            check_int(name, getattr(self, name))
        for name in ("learning_rate", "width_multiplier"):
            check_number(name, getattr(self, name), positive=True)
        for name in _NON_NEGATIVE:
            check_number(name, getattr(self, name))
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("precision", self.precision, PRECISIONS)
        check_strategy(self.strategy)
        check_choice("augment", self.augment, AUGMENTS)
        check_number("label_smoothing", self.label_smoothing, below=1.0)
        check_number("validation_split", self.validation_split, below=1.0)
        for name in ("max_train_examples", "max_test_examples"):
            check_int(name, getattr(self, name), allow_none=True)
        steps = self.grad_norm_steps
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in steps):
            fail("grad_norm_steps", steps, "must be integers >= 0")
        for name in ("jit_compile", "deterministic"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                fail(name, value, "must be true, false or None")
        if not isinstance(self.model_options, dict):
            fail("model_options", self.model_options, "must be a mapping")

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


def load_splits(
    config: TrainConfig, *, dataset: str | None = None, data_dir: str | None = None
):
    """The ``DatasetSplits`` of a run: ``config``'s data, split as it says.

    The one place that turns a config into ``load_dataset`` arguments, so
    training and evaluating a run see the same examples (hold-out, limits).

    Args:
        config: The run's configuration.
        dataset: Another data source in place of ``config.dataset``.
        data_dir: Another TFDS directory in place of ``config.data_dir``.

    Returns:
        A ``keras_resnet.data.DatasetSplits``.
    """
    # Imported here: reading and validating a config must not load the data
    # sources (nor TensorFlow through them).
    from keras_resnet.data import load_dataset

    return load_dataset(
        dataset or config.dataset,
        validation_split=config.validation_split,
        seed=config.seed,
        data_dir=data_dir or config.data_dir,
        max_train_examples=config.max_train_examples,
        max_test_examples=config.max_test_examples,
    )


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

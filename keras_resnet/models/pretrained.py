"""Pretrained weights shipped inside the package, as ``weights="<name>"``.

As keras.applications does with ``weights="imagenet"``, a builder called
with the name of a registered set of weights (``build_model("mini_resnet",
weights="cifar10")``) returns the model with those weights loaded. The
table ``PRETRAINED`` (Keras-free data in ``keras_resnet.models.catalog``,
re-exported here) maps ``(model, name)`` to a ``PretrainedWeights`` entry:
the file (in the package folder ``keras_resnet/weights/``), its sha256, the
normalization and class names it was trained with, the builder arguments it
fixes, its documented test accuracy and where it came from.

Such a model takes **raw pixels**: a ``Normalization`` layer named
``"normalization"`` (the training split's per-channel mean and standard
deviation) comes first, then the builder's layers, as in the classifier a
training run saves.

Shipping a set of weights is one file and one table entry, both from a
finished run: ``python -m keras_resnet.models.pretrained RUN_DIR OUT``
(``write_pretrained``) writes the weights file and prints the entry to
paste into ``PRETRAINED``.

Example:
    >>> weights_choices("resnet18")  # the names registered for a model
    []
"""

from __future__ import annotations

import hashlib
import inspect
import os
import pathlib
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from keras_resnet._validation import fail

# The table is Keras-free data (``keras-resnet models`` shows it without
# importing Keras); this module loads what it names.
from keras_resnet.models.catalog import (  # noqa: F401 (re-exported)
    BUILDER_ARGUMENTS,
    PRETRAINED,
    PretrainedWeights,
    weights_choices,
)
from keras_resnet.models.layers import build_normalization

# The package folder holding the weights files; pyproject.toml installs the
# files matching WEIGHTS_GLOB in it (tests check the two agree).
WEIGHTS_DIR = pathlib.Path(__file__).resolve().parent.parent / "weights"
WEIGHTS_GLOB = "*.weights.h5"
WEIGHTS_SUFFIX = ".weights.h5"
# Builder arguments that say how a model is used, not what its weights are:
# a set of weights fixes every other argument (``arguments``). Of the ones
# every builder takes, width and normalization shape the weights.
USAGE_ARGUMENTS = frozenset(BUILDER_ARGUMENTS) - {"width_multiplier", "normalization"}
_HASH_CHUNK = 1 << 20


def get_pretrained(model: str, name: str) -> PretrainedWeights:
    """The entry for ``weights=name`` of ``model``.

    Raises:
        ValueError: If ``model`` has no weights named ``name``; the message
            lists the accepted values and ends in ``Received: weights=...``.
    """
    entry = PRETRAINED.get((model, name)) if isinstance(name, str) else None
    if entry is None:
        choices = ", ".join(repr(choice) for choice in weights_choices(model))
        fail(
            "weights",
            name,
            f"must be None, the path of an existing weights file, or a "
            f"pretrained name of {model!r} ({choices or 'it has none'})",
        )
    return entry


def find_pretrained(model: str, weights) -> PretrainedWeights | None:
    """The entry ``weights`` names, or None for None or an existing file.

    A registered name wins over a file of that name in the working
    directory (``./cifar10`` names the file), as in keras.applications.

    Raises:
        ValueError: For anything else (see ``get_pretrained``).
    """
    if weights is None or (
        isinstance(weights, str | os.PathLike)
        and (model, weights) not in PRETRAINED
        and os.path.isfile(weights)
    ):
        return None
    return get_pretrained(model, weights)


def weights_path(entry: PretrainedWeights) -> pathlib.Path:
    """Where the installed package holds ``entry``'s file (not checked)."""
    return WEIGHTS_DIR / entry.file


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 (hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verified_weights_path(entry: PretrainedWeights) -> pathlib.Path:
    """``weights_path(entry)`` after checking the file's sha256.

    Raises:
        OSError: One line naming the file, the expected and the actual
            sha256, if the file is missing or modified.
    """
    path = weights_path(entry)
    actual = file_sha256(path) if path.is_file() else None
    if actual != entry.sha256:
        found = "missing" if actual is None else f"sha256 {actual[:12]}"
        raise OSError(
            f"The pretrained weights file {path} of weights={entry.name!r} is "
            f"missing or modified (expected sha256 {entry.sha256[:12]}, found "
            f"{found}); reinstall keras3-resnet"
        )
    return path


def check_pretrained_arguments(
    entry: PretrainedWeights, arguments: Mapping[str, Any]
) -> None:
    """Refuse builder arguments that ``entry``'s weights do not fit.

    The arguments the weights fix must be equal; with the top, the classes
    must be the weights' classes; the input must have their channels.
    Height and width, ``include_top=False``, ``pooling`` and
    ``classifier_activation`` are free, as in keras.applications.

    Args:
        entry: The weights.
        arguments: Every argument of the builder call, defaults filled in.

    Raises:
        ValueError: Naming the first argument that does not fit.
    """
    label = f"weights={entry.name!r}"
    for key, value in entry.arguments.items():
        if key in arguments and arguments[key] != value:
            raise ValueError(
                f"{label} needs {key}={value!r}. Received: {key}={arguments[key]!r}"
            )
    classes = len(entry.class_names)
    if arguments.get("include_top") and arguments.get("num_classes") != classes:
        fail(
            "num_classes",
            arguments.get("num_classes"),
            f"must be {classes} with {label} and include_top=True (or use "
            "include_top=False)",
        )
    channels = len(entry.mean)
    input_shape, input_tensor = (
        arguments.get("input_shape"),
        arguments.get("input_tensor"),
    )
    if input_tensor is not None and input_tensor.shape[-1] != channels:
        fail(
            "input_tensor",
            input_tensor,
            f"must have {channels} channels with {label}",
        )
    if input_shape is not None and tuple(input_shape)[-1] != channels:
        fail("input_shape", input_shape, f"must have {channels} channels with {label}")


def build_pretrained(
    build: Callable[..., keras.Model],
    arguments: Mapping[str, Any],
    entry: PretrainedWeights,
    default_input_shape: Sequence[int | None],
) -> keras.Model:
    """Build ``raw pixels -> normalization -> build(...)`` with ``entry``'s weights.

    Args:
        build: The builder (called with ``weights=None``).
        arguments: Every argument of the call, defaults filled in.
        entry: The weights (``check_pretrained_arguments`` passed).
        default_input_shape: The input shape when neither ``input_shape``
            nor ``input_tensor`` is given.

    Returns:
        The model, its weights loaded.

    Raises:
        OSError: If the weights file is missing or modified.
    """
    path = verified_weights_path(entry)
    arguments = dict(arguments)
    pixels = arguments["input_tensor"]
    if pixels is None:
        shape = tuple(arguments["input_shape"] or default_input_shape)
        pixels = keras.Input(shape=shape, name="images")
    # The builder's model starts at the source input of ``input_tensor``:
    # the raw pixels, then this layer.
    arguments.update(
        input_tensor=build_normalization(entry.mean, entry.std)(pixels),
        input_shape=None,
        weights=None,
    )
    model = build(**arguments)
    reference = build(
        **entry.arguments,
        include_top=True,
        num_classes=len(entry.class_names),
        weights=None,
    )
    reference.load_weights(path)
    # The normalization layer's statistics come from the entry, not the file.
    copy_weights_by_name(reference, model, skip={"normalization"})
    return model


def weighted_layers(model: keras.Model) -> dict[str, keras.Layer]:
    """Layer name -> layer, for every layer with weights (nested models opened)."""
    found = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.update(weighted_layers(layer))
        elif layer.weights:
            found[layer.name] = layer
    return found


def copy_weights_by_name(
    source: keras.Model, target: keras.Model, *, skip: Collection[str] = ()
) -> None:
    """Copy the weights of every weighted layer of ``target`` from ``source``.

    Layers are matched by name; layers only ``source`` has are left out (the
    classifier, for a target built with ``include_top=False``).

    Args:
        source: The model to copy from.
        target: The model to copy into.
        skip: Layer names left alone.

    Raises:
        ValueError: For a weighted layer of ``target`` that ``source`` lacks,
            or whose weight shapes differ there.
    """
    sources = weighted_layers(source)
    targets = {
        name: layer
        for name, layer in weighted_layers(target).items()
        if name not in skip
    }
    missing = [name for name in targets if name not in sources]
    if missing:
        raise ValueError(
            f"Cannot copy weights from {source.name!r} to {target.name!r}: "
            f"{len(missing)} weighted layers are missing there, the first "
            f"{missing[0]!r}. Received: layer={missing[0]!r}"
        )
    for name, layer in targets.items():
        values = sources[name].get_weights()
        shapes = [tuple(np.shape(value)) for value in values]
        expected = [tuple(weight.shape) for weight in layer.weights]
        if shapes != expected:
            raise ValueError(
                f"Cannot copy weights from {source.name!r} to {target.name!r}: "
                f"layer {name!r} has shapes {shapes} there and {expected} here. "
                f"Received: layer={name!r}"
            )
        layer.set_weights(values)


def write_pretrained(
    run_dir: str | os.PathLike, path: str | os.PathLike
) -> dict[str, Any]:
    """Write a finished run's weights in the builder's layout; return its entry.

    Loads the run's ``model.keras`` (plain Keras), builds the run's model
    with the builder (full top, the run's model options), copies every
    weighted layer by name, saves ``path`` and reads the rest of the entry
    from the run: mean, std and class names (``dataset.json``), test
    accuracy (``metrics.json``) and the arguments (``config.yaml``).

    Args:
        run_dir: A completed run directory.
        path: The ``.weights.h5`` file to write.

    Returns:
        The ``PretrainedWeights`` fields but ``name`` (``model``, ``file``,
        ``sha256``, ``mean``, ``std``, ``class_names``, ``arguments``,
        ``test_accuracy``, ``source``).

    Raises:
        ValueError: For a path without the ``.weights.h5`` suffix, or a run
            whose model lacks a layer of the builder's (or has other
            shapes).
        keras_resnet.errors.RunDirectoryError: For a run that is not
            complete or cannot be read.
    """
    # Imported here: building a model needs neither the run layout nor the
    # registry's readers.
    from keras_resnet.errors import RunDirectoryError
    from keras_resnet.models.registry import build_model, get_model_info
    from keras_resnet.run_layout import (
        CONFIG_FILE,
        DATASET_FILE,
        METRICS_FILE,
        MODEL_FILE,
        read_config_values,
        read_json,
        read_metrics,
    )

    run_dir, path = pathlib.Path(run_dir), pathlib.Path(path)
    if not path.name.endswith(WEIGHTS_SUFFIX):
        fail("path", os.fspath(path), f"must end in {WEIGHTS_SUFFIX}")
    config = read_config_values(run_dir)
    metrics = read_metrics(run_dir)
    if not config or "test_accuracy" not in metrics:
        raise RunDirectoryError(
            f"{run_dir} is not a completed run (needs {CONFIG_FILE} and "
            f"{METRICS_FILE} with test_accuracy)"
        )
    dataset = read_json(run_dir / DATASET_FILE)
    class_names = [str(name) for name in dataset["class_names"]]
    # A run saves its classifier with Keras' own layers only (no
    # augmentation), so plain Keras loads it; keras_resnet.inference, a
    # layer above this one, is not needed.
    try:
        classifier = keras.saving.load_model(run_dir / MODEL_FILE, compile=False)
    except Exception as error:  # Keras raises many types for a bad file.
        raise RunDirectoryError(
            f"Cannot load {run_dir / MODEL_FILE}: {' '.join(str(error).split())[:300]}"
        ) from None
    model = str(config["model"])
    options = {
        "width_multiplier": config.get("width_multiplier", 1.0),
        **(config.get("model_options") or {}),
    }
    built = build_model(model, num_classes=len(class_names), **options)
    copy_weights_by_name(classifier, built)
    path.parent.mkdir(parents=True, exist_ok=True)
    built.save_weights(path)
    signature = inspect.signature(get_model_info(model).builder)
    bound = signature.bind(**options)
    bound.apply_defaults()
    arguments = {
        key: value
        for key, value in bound.arguments.items()
        if key not in USAGE_ARGUMENTS
    }
    return {
        "model": model,
        "file": path.name,
        "sha256": file_sha256(path),
        "mean": [float(m) for m in dataset["mean"]],
        "std": [float(s) for s in dataset["std"]],
        "class_names": class_names,
        "arguments": arguments,
        "test_accuracy": float(metrics["test_accuracy"]),
        "source": f"keras-resnet fit run {run_dir.name} ({model}, dataset "
        f"{config.get('dataset')}, {metrics.get('epochs')} epochs)",
    }


def entry_source(fields: Mapping[str, Any], name: str) -> str:
    """``fields`` (from ``write_pretrained``) as a ``PRETRAINED`` line to paste."""
    lines = [f"    ({fields['model']!r}, {name!r}): PretrainedWeights("]
    lines.append(f"        model={fields['model']!r},")
    lines.append(f"        name={name!r},")
    for key in (
        "file",
        "sha256",
        "mean",
        "std",
        "class_names",
        "arguments",
        "test_accuracy",
        "source",
    ):
        value = fields[key]
        if isinstance(value, list):
            value = tuple(value)
        lines.append(f"        {key}={value!r},")
    lines.append("    ),")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m keras_resnet.models.pretrained RUN_DIR OUT [--name NAME]``.

    Writes ``OUT`` (a ``.weights.h5`` file) from the run and prints the
    ``PRETRAINED`` entry to paste; ``NAME`` is its ``weights=`` name
    (default ``cifar10``).
    """
    import argparse

    from keras_resnet.errors import KerasResNetError

    parser = argparse.ArgumentParser(
        prog="python -m keras_resnet.models.pretrained",
        description="Write a finished run's weights for PRETRAINED; print its entry.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument("out", metavar="OUT", help="the .weights.h5 file to write")
    parser.add_argument("--name", default="cifar10", help="the weights= name")
    args = parser.parse_args(argv)
    try:
        fields = write_pretrained(args.run_dir, args.out)
    except (KerasResNetError, ValueError, OSError, KeyError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    print(entry_source(fields, args.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())

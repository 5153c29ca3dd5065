"""Export a trained classifier for serving: SavedModel, ``.keras`` or ONNX.

Every format writes a directory ``OUTPUT`` (with ``version=N``, the TF Serving
layout ``OUTPUT/N/``). It is written to a temporary sibling folder first and
moved into place only when complete, so a failed export never leaves a
half-written directory, and an existing non-empty target is replaced only
with ``overwrite=True``.

* ``saved_model``: ``OUTPUT/saved_model.pb`` with the ``serving_default``
  signature ``images`` (uint8 ``[batch, height, width, 3]``, any size) ->
  ``probabilities`` (float32 ``[batch, classes]``), ``class_id`` (int64
  ``[batch]``), ``class_name`` (string ``[batch]``); resizing and
  normalization happen inside the graph. Needs only TensorFlow to load.
* ``keras``: ``OUTPUT/model.keras`` (the classifier without augmentation,
  made of stock Keras layers only, so plain Keras loads it without this
  package) and ``OUTPUT/dataset.json`` with its ``class_names``; a valid
  ``predict`` source.
* ``onnx``: ``OUTPUT/model.onnx`` with the same ``images`` input and
  ``probabilities`` / ``class_id`` outputs; class names and image size are in
  the model's metadata. Needs the ``onnx`` extra (tf2onnx, onnx).

Example:
    >>> export_model("runs/resnet18-20261125-101500", "serving/cifar", version=1)
    PosixPath('serving/cifar/1')
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile
from collections.abc import Callable

import keras
import tensorflow as tf

from keras_resnet._validation import check_int
from keras_resnet.errors import KerasResNetError, RunDirectoryError
from keras_resnet.inference import (
    DATASET_FILE,
    METADATA_FILE,
    MODEL_FILE,
    load_classifier,
    resize_images,
)
from keras_resnet.models.layers import to_stock_layers

FORMATS = ("saved_model", "keras", "onnx")
ONNX_FILE = "model.onnx"
ONNX_OPSET = 17


def export_model(
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    format: str = "saved_model",
    version: int | None = None,
    overwrite: bool = False,
) -> pathlib.Path:
    """Export the classifier of a run directory or ``.keras`` file.

    Args:
        source: A run directory (``model.keras`` + ``dataset.json``) or a
            ``.keras`` file (class names from a ``dataset.json`` beside it,
            else ``"0".."N-1"``).
        output: Directory to write.
        format: ``"saved_model"``, ``"keras"`` or ``"onnx"``.
        version: With ``format="saved_model"``, write the TF Serving layout
            ``output/<version>/`` (other versions in ``output`` are kept).
        overwrite: Replace an existing non-empty target directory.

    Returns:
        The directory written (``output`` or ``output/<version>``).

    Raises:
        ValueError: For an unknown ``format`` or an invalid ``version``.
        RunDirectoryError: If ``source`` has no model, or the target exists,
            is not empty and ``overwrite`` is False.
        KerasResNetError: If the ONNX extra is not installed.
    """
    _validate(format, version)
    target = pathlib.Path(output)
    if version is not None:
        target = target / str(version)
    _check_target(target, overwrite)
    model, class_names = load_classifier(source)
    image_size = _image_size(model)
    writer = _WRITERS[format]
    _write_atomically(
        target, lambda folder: writer(model, class_names, image_size, folder)
    )
    return target


def _validate(format: str, version: int | None) -> None:
    if format not in FORMATS:
        raise ValueError(
            f"format must be one of {FORMATS}. Received: format={format!r}"
        )
    if version is None:
        return
    check_int("version", version, minimum=0)
    if format != "saved_model":
        raise ValueError(
            "version (the TF Serving layout) applies only to format='saved_model'. "
            f"Received: format={format!r}"
        )


def _check_target(target: pathlib.Path, overwrite: bool) -> None:
    if target.exists() and not target.is_dir():
        raise RunDirectoryError(
            f"Export target exists and is not a directory: {target}"
        )
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise RunDirectoryError(
            f"Export target is not empty: {target} (pass overwrite=True / --overwrite)"
        )


def _image_size(model: keras.Model) -> tuple[int, int]:
    height, width = model.input_shape[1:3]
    if height is None or width is None:
        raise ValueError(
            "Exporting needs a model with a fixed input size. "
            f"Received: input_shape={model.input_shape}"
        )
    return int(height), int(width)


def _write_atomically(
    target: pathlib.Path, write: Callable[[pathlib.Path], None]
) -> None:
    """Run ``write(folder)`` on a temporary sibling, then move it to ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(
        tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    )
    try:
        write(staging)
        if target.exists():
            retired = pathlib.Path(
                tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent)
            )
            target.rename(retired / target.name)
            staging.rename(target)
            shutil.rmtree(retired)
        else:
            staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def build_serving_function(
    model: keras.Model, class_names: list[str], image_size: tuple[int, int]
) -> tf.types.experimental.GenericFunction:
    """The ``serving_default`` function: uint8 images of any size -> outputs.

    Args:
        model: Classifier taking raw float pixels of ``image_size``.
        class_names: One name per model output.
        image_size: ``(height, width)`` to resize to.

    Returns:
        A ``tf.function`` with input ``images`` (uint8 ``[None, None, None,
        3]``) returning ``probabilities`` (float32), ``class_id`` (int64) and
        ``class_name`` (string).
    """
    names = tf.constant(class_names, dtype=tf.string)

    @tf.function(
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")]
    )
    def serve(images):
        # A loaded signature checks only the dtype; this rejects another rank
        # or channel count with TensorFlow's own shape error.
        images = tf.ensure_shape(images, [None, None, None, 3])
        pixels = resize_images(images, image_size)
        # A mixed-precision model computes in float16; serve float32 anyway.
        probabilities = tf.cast(model(pixels, training=False), tf.float32)
        class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {
            "probabilities": probabilities,
            "class_id": class_id,
            "class_name": tf.gather(names, class_id),
        }

    return serve


def _write_saved_model(model, class_names, image_size, folder: pathlib.Path) -> None:
    if keras.backend.backend() != "tensorflow":
        raise KerasResNetError(
            "SavedModel export needs the TensorFlow backend (set "
            f"KERAS_BACKEND=tensorflow); the backend is {keras.backend.backend()}"
        )
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default", build_serving_function(model, class_names, image_size)
    )
    archive.write_out(str(folder), verbose=False)
    _write_json(folder / METADATA_FILE, _metadata(model, class_names, image_size))


def _write_keras(model, class_names, image_size, folder: pathlib.Path) -> None:
    to_stock_layers(model).save(folder / MODEL_FILE)
    # The part of a run's dataset.json that predicting needs.
    dataset = {
        "class_names": list(class_names),
        "num_classes": len(class_names),
        "image_shape": [*image_size, 3],
    }
    _write_json(folder / DATASET_FILE, dataset)


def _write_onnx(model, class_names, image_size, folder: pathlib.Path) -> None:
    onnx, tf2onnx = _import_onnx()
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    serve = build_serving_function(model, class_names, image_size)
    # ONNX has no string tensors from TF's gather; class names go in metadata.
    concrete = tf.function(
        lambda images: {
            key: value for key, value in serve(images).items() if key != "class_name"
        },
        input_signature=serve.input_signature,
    ).get_concrete_function()
    # Freezing inlines variables and captured constants (the normalization
    # mean and variance), which tf2onnx.convert.from_function would otherwise
    # expose as extra graph inputs.
    frozen = convert_variables_to_constants_v2(concrete)
    # Outputs are flattened in sorted key order, like tf.nest.
    output_keys = sorted(concrete.structured_outputs)
    output_names = [tensor.name for tensor in frozen.outputs]
    input_names = [tensor.name for tensor in frozen.inputs]
    proto, _ = tf2onnx.convert.from_graph_def(
        frozen.graph.as_graph_def(),
        input_names=input_names,
        output_names=output_names,
        opset=ONNX_OPSET,
    )
    _rename_onnx_io(proto, input_names + output_names, ["images", *output_keys])
    metadata = _metadata(model, class_names, image_size)
    for key in ("class_names", "image_size"):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(metadata[key])
    onnx.save(proto, str(folder / ONNX_FILE))


def _import_onnx():
    try:
        import onnx
        import tf2onnx
    except ImportError:
        raise KerasResNetError(
            "ONNX export needs the onnx extra: pip install 'keras3-resnet[onnx]'"
        ) from None
    return onnx, tf2onnx


def _rename_onnx_io(proto, old_names: list[str], new_names: list[str]) -> None:
    """Rename graph inputs/outputs (TF tensor names like ``Identity:0``)."""
    mapping = dict(zip(old_names, new_names, strict=True))
    graph = proto.graph
    for value in list(graph.input) + list(graph.output):
        value.name = mapping.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [mapping.get(name, name) for name in node.input]
        node.output[:] = [mapping.get(name, name) for name in node.output]


def _metadata(model, class_names, image_size) -> dict:
    return {
        "model": model.name,
        "class_names": list(class_names),
        "num_classes": len(class_names),
        "image_size": list(image_size),
        "input": "uint8 [batch, height, width, 3], any height and width",
        "resize": "bilinear, no antialiasing",
    }


def _write_json(path: pathlib.Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2) + "\n")


_WRITERS = {
    "saved_model": _write_saved_model,
    "keras": _write_keras,
    "onnx": _write_onnx,
}

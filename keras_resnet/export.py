"""Export a trained classifier for serving: SavedModel, ``.keras`` or ONNX.

Every format writes a directory ``OUTPUT`` (with ``version=N``, the TF Serving
layout ``OUTPUT/N/``). It is written to a temporary sibling folder first and
moved into place only when complete, so a failed export never leaves a
half-written directory; an existing non-empty target is replaced only with
``overwrite=True``, and never when it contains the source or lies inside it.
Folders are created 0755 and files 0644 (under umask 022), so a server
running as another user can read them.

* ``saved_model``: written by ``keras.export.ExportArchive``, from the
  TensorFlow or the JAX backend (which converts the model with jax2tf, so
  TensorFlow must be installed). ``OUTPUT/saved_model.pb`` with the
  ``serving_default`` signature ``images`` (uint8 ``[batch, height, width,
  3]``, any size) -> ``probabilities`` (float32 ``[batch, classes]``),
  ``class_id`` (int64 ``[batch]``), ``class_name`` (string ``[batch]``);
  resizing and normalization happen inside the graph. A second signature,
  ``classify_pixels``, is the bare model on float32 pixels already of its
  input size. Needs only TensorFlow to load.
* ``keras``: ``OUTPUT/model.keras`` (the classifier without augmentation,
  made of stock Keras layers only, so plain Keras loads it without this
  package) and ``OUTPUT/dataset.json`` with its ``class_names``; a valid
  ``predict`` source. Needs no TensorFlow.
* ``onnx``: ``OUTPUT/model.onnx`` with the same ``images`` input and
  ``probabilities`` / ``class_id`` outputs; class names and image size are in
  the model's metadata. Needs the ``onnx`` extra (tf2onnx, onnx) and the
  TensorFlow backend.

Example:
    >>> export_model("runs/resnet18-20261125-101500", "serving/cifar", version=1)
    PosixPath('serving/cifar/1')
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING

from keras_resnet._validation import check_choice, check_int
from keras_resnet.errors import KerasResNetError, RunDirectoryError
from keras_resnet.run_layout import DATASET_FILE, MODEL_FILE

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

# Keras and TensorFlow are imported where they are used, so that the command
# line reads FORMATS without loading them, and the keras format works on a
# backend without TensorFlow installed.

FORMATS = ("saved_model", "keras", "onnx")
ONNX_FILE = "model.onnx"
ONNX_OPSET = 17
SERVING_SIGNATURE = "serving_default"
PIXELS_SIGNATURE = "classify_pixels"
# Backends whose models keras.export.ExportArchive turns into a SavedModel.
SAVED_MODEL_BACKENDS = ("tensorflow", "jax")
# Lower the jax2tf module for both, so a SavedModel exported on a CPU also
# serves on a GPU (native serialization runs only on the platforms listed).
JAX_PLATFORMS = ("cpu", "cuda")


def export_model(
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    format: str = "saved_model",
    version: int | None = None,
    overwrite: bool = False,
) -> pathlib.Path:
    """Export the classifier of a run directory, ``.keras`` file or SavedModel.

    Nothing is deleted before the export has been written: the target is
    refused if it contains ``source`` or lies inside it (whatever
    ``overwrite`` says), the export is written to a temporary sibling
    ``.NAME.tmp-*``, and only then does it replace the target. The folders
    and files written get ordinary permissions (``0o777`` and ``0o666``
    less the process umask: 0755 and 0644 under the usual umask 022).

    Args:
        source: A run directory (``model.keras`` + ``dataset.json``), a
            ``.keras`` file (class names from a ``dataset.json`` beside it,
            else ``"0".."N-1"``), or a SavedModel written by this function
            (plain or ``BASE/<version>/``; it can only be copied to
            ``format="saved_model"``, for example into a versioned layout).
        output: Directory to write.
        format: ``"saved_model"``, ``"keras"`` or ``"onnx"``.
        version: With ``format="saved_model"``, write the TF Serving layout
            ``output/<version>/`` (other versions in ``output`` are kept).
        overwrite: Replace an existing non-empty target directory.

    Returns:
        The directory written (``output`` or ``output/<version>``).

    Raises:
        ValueError: For an unknown ``format`` or an invalid ``version``.
        RunDirectoryError: If ``source`` has no model; if the target contains
            ``source`` or is inside it; if the target exists, is not empty
            and ``overwrite`` is False.
        KerasResNetError: If the backend cannot write ``format`` (a
            SavedModel needs the TensorFlow or JAX backend and TensorFlow
            installed, ONNX the TensorFlow backend), the ONNX extra is not
            installed, or a SavedModel is to be exported to another format.
    """
    _validate(format, version)
    target = pathlib.Path(output)
    if version is not None:
        target = target / str(version)
    _check_no_overlap(pathlib.Path(source), target)
    _check_target(target, overwrite)
    from keras_resnet.inference import find_model, load_classifier

    found = find_model(source)
    if found.is_dir():  # a SavedModel folder (the highest version)
        write = _saved_model_copier(found, format)
    else:
        _check_backend(format)
        model, class_names = load_classifier(found)
        image_size = _image_size(model)
        writer = _WRITERS[format]

        def write(folder: pathlib.Path) -> None:
            writer(model, class_names, image_size, folder)

    _write_atomically(target, write)
    return target


def _validate(format: str, version: int | None) -> None:
    check_choice("format", format, FORMATS)
    if version is None:
        return
    check_int("version", version, minimum=0)
    if format != "saved_model":
        raise ValueError(
            "version (the TF Serving layout) applies only to format='saved_model'. "
            f"Received: format={format!r}"
        )


def _check_backend(format: str) -> None:
    """Refuse, before the model is loaded, a format this backend cannot write."""
    import keras

    backend = keras.backend.backend()
    if format == "saved_model" and backend not in SAVED_MODEL_BACKENDS:
        raise KerasResNetError(
            "SavedModel export needs the TensorFlow or JAX backend (set "
            f"KERAS_BACKEND=tensorflow or jax); the backend is {backend}"
        )
    if format == "onnx" and backend != "tensorflow":
        raise KerasResNetError(
            "ONNX export needs the TensorFlow backend, since tf2onnx converts "
            f"TensorFlow graphs (set KERAS_BACKEND=tensorflow); the backend is {backend}"
        )
    if format == "saved_model":
        try:
            import tensorflow  # noqa: F401
        except ImportError:
            raise KerasResNetError(
                "SavedModel export needs TensorFlow, also on the JAX backend "
                "(Keras converts the model with jax2tf): pip install tensorflow"
            ) from None


def _check_no_overlap(source: pathlib.Path, target: pathlib.Path) -> None:
    """Refuse a target that is, contains or lies inside the source.

    Replacing such a target would delete the source (or write into it), so
    this holds even with ``overwrite``. Paths are compared resolved, so a
    symlink or ``..`` does not hide an overlap.
    """
    source_real, target_real = source.resolve(), target.resolve()
    if target_real == source_real or target_real in source_real.parents:
        relation = "is" if target_real == source_real else "contains"
        raise RunDirectoryError(
            f"Export target {target} {relation} the source {source}; replacing "
            "it would delete the source. Choose a directory outside it"
        )
    if source_real in target_real.parents:
        raise RunDirectoryError(
            f"Export target {target} is inside the source {source}; choose a "
            "directory outside it"
        )


def _check_target(target: pathlib.Path, overwrite: bool) -> None:
    if target.exists() and not target.is_dir():
        raise RunDirectoryError(
            f"Export target exists and is not a directory: {target}"
        )
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise RunDirectoryError(
            f"Export target is not empty: {target} (pass overwrite=True)"
        )


def _image_size(model: keras.Model) -> tuple[int, int]:
    height, width = model.input_shape[1:3]
    if height is None or width is None:
        raise ValueError(
            "Exporting needs a model with a fixed input size. "
            f"Received: input_shape={model.input_shape}"
        )
    return int(height), int(width)


def _saved_model_copier(
    saved_model: pathlib.Path, format: str
) -> Callable[[pathlib.Path], None]:
    from keras_resnet.inference import METADATA_FILE

    if format != "saved_model":
        raise KerasResNetError(
            f"{saved_model} is a SavedModel, which can only be exported as "
            f"saved_model (it holds no Keras model); export the run directory "
            f"or .keras file it came from to get {format}"
        )
    if not (saved_model / METADATA_FILE).is_file():
        raise RunDirectoryError(
            f"{saved_model} is a SavedModel without {METADATA_FILE}; only "
            "SavedModels written by `keras-resnet export` can be re-exported"
        )

    def copy(folder: pathlib.Path) -> None:
        shutil.copytree(saved_model, folder, dirs_exist_ok=True)

    return copy


def _write_atomically(
    target: pathlib.Path, write: Callable[[pathlib.Path], None]
) -> None:
    """Run ``write(folder)`` on a temporary sibling, then move it to ``target``.

    The staging folder ``.NAME.tmp-*`` is removed whatever happens; an old
    target is replaced only after ``write`` succeeded, and is put back if
    the final rename fails. Parent folders this call created are removed
    again if nothing was exported.
    """
    created = _missing_ancestors(target.parent)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(
        tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    )
    try:
        write(staging)
        apply_umask_permissions(staging)
        _swap_into_place(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        if not target.exists():
            for folder in created:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if still empty


def _swap_into_place(staging: pathlib.Path, target: pathlib.Path) -> None:
    if not target.exists():
        staging.rename(target)
        return
    retired = pathlib.Path(
        tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent)
    )
    target.rename(retired / target.name)
    try:
        staging.rename(target)
    except BaseException:
        (retired / target.name).rename(target)
        retired.rmdir()
        raise
    shutil.rmtree(retired)


def _missing_ancestors(folder: pathlib.Path) -> list[pathlib.Path]:
    """``folder`` and its missing parents, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def current_umask() -> int:
    """The process umask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask_permissions(folder: str | os.PathLike) -> None:
    """Give ``folder`` and everything in it the permissions of a new file.

    Directories get ``0o777`` and files ``0o666``, less the umask (0755 and
    0644 under umask 022), as ``mkdir`` and ``open`` would create them.
    ``tempfile.mkdtemp`` makes its folder 0700 and some writers copy other
    modes, so a serving process running as another user could not read
    the export otherwise. Symbolic links are left alone.

    Args:
        folder: The directory to fix, recursively.
    """
    mask = current_umask()
    folder = pathlib.Path(folder)
    os.chmod(folder, 0o777 & ~mask)
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            if os.path.islink(path):
                continue
            mode = 0o777 if name in dirs else 0o666
            os.chmod(path, mode & ~mask)


def build_export_archive(
    model: keras.Model, class_names: list[str], image_size: tuple[int, int]
) -> keras.export.ExportArchive:
    """The SavedModel of ``model`` as a ``keras.export.ExportArchive``.

    The model goes through Keras' own export (a ``tf.function`` on the
    TensorFlow backend, jax2tf on the JAX backend, lowered for CPU and CUDA)
    as the endpoint ``classify_pixels``: float32 pixels ``[batch, height,
    width, 3]`` of ``image_size`` -> the model's output. The
    ``serving_default`` endpoint wraps it in TensorFlow code that is the
    same on every backend: uint8 images of any size are resized with
    ``keras_resnet.inference.resize_images``, and the class id and name are
    looked up after the model (JAX has no string tensors).

    Args:
        model: Classifier taking raw float pixels of ``image_size``.
        class_names: One name per model output.
        image_size: ``(height, width)`` to resize to.

    Returns:
        An archive to ``write_out``; its ``serving_default`` takes ``images``
        (uint8 ``[None, None, None, 3]``) and returns ``probabilities``
        (float32), ``class_id`` (int64) and ``class_name`` (string).
    """
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)

    def classify_pixels(pixels):
        return model(pixels, training=False)

    options = {}
    if keras.backend.backend() == "jax":
        # Serving needs no gradient; without it, loading does not warn about
        # "ops with unsaved custom gradients".
        options["jax2tf_kwargs"] = {
            "native_serialization_platforms": JAX_PLATFORMS,
            "with_gradient": False,
        }
    classify = archive.add_endpoint(
        PIXELS_SIGNATURE,
        classify_pixels,
        input_signature=[
            keras.InputSpec(shape=(None, *image_size, 3), dtype="float32")
        ],
        **options,
    )
    serve = _serving_function(classify, class_names, image_size)
    # A traced tf.function is added as it is, not converted again by jax2tf.
    serve.get_concrete_function()
    archive.add_endpoint(SERVING_SIGNATURE, serve)
    return archive


def _serving_function(
    classify: Callable, class_names: list[str], image_size: tuple[int, int]
) -> tf.types.experimental.GenericFunction:
    """uint8 images of any size -> probabilities, class_id, class_name."""
    import tensorflow as tf

    from keras_resnet.inference import resize_images

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
        probabilities = tf.cast(classify(pixels), tf.float32)
        class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {
            "probabilities": probabilities,
            "class_id": class_id,
            "class_name": tf.gather(names, class_id),
        }

    return serve


def _write_saved_model(model, class_names, image_size, folder: pathlib.Path) -> None:
    from keras_resnet.inference import METADATA_FILE

    archive = build_export_archive(model, class_names, image_size)
    archive.write_out(str(folder), verbose=False)
    _write_json(folder / METADATA_FILE, _metadata(model, class_names, image_size))


def _write_keras(model, class_names, image_size, folder: pathlib.Path) -> None:
    from keras_resnet.models.layers import to_stock_layers

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
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    # The model is called directly (the TensorFlow backend), so freezing
    # sees its variables.
    serve = _serving_function(
        lambda pixels: model(pixels, training=False), class_names, image_size
    )
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
    import keras

    from keras_resnet.inference import RESIZE_METHOD

    return {
        "model": model.name,
        "class_names": list(class_names),
        "num_classes": len(class_names),
        "image_size": list(image_size),
        "input": "uint8 [batch, height, width, 3], any height and width",
        "resize": f"{RESIZE_METHOD}, no antialiasing",
        "keras_version": keras.__version__,
        "keras_backend": keras.backend.backend(),
    }


def _write_json(path: pathlib.Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2) + "\n")


_WRITERS = {
    "saved_model": _write_saved_model,
    "keras": _write_keras,
    "onnx": _write_onnx,
}

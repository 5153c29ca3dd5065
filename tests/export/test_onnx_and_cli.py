"""ONNX export checked with onnxruntime, and the `export` command."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from keras_resnet.cli.export import export

from .helpers import CLASS_NAMES, IMAGE_SIZE, keras_reference, uint8_images


@pytest.mark.slow
def test_onnx_matches_keras_on_two_sizes(classifier, run_dir, tmp_path):
    import onnxruntime

    from keras_resnet.export import export_model

    written = export_model(run_dir, tmp_path / "onnx", format="onnx")
    session = onnxruntime.InferenceSession(str(written / "model.onnx"))
    [model_input] = session.get_inputs()
    assert (model_input.name, model_input.type) == ("images", "tensor(uint8)")
    assert sorted(o.name for o in session.get_outputs()) == [
        "class_id",
        "probabilities",
    ]
    metadata = session.get_modelmeta().custom_metadata_map
    assert json.loads(metadata["class_names"]) == CLASS_NAMES
    assert json.loads(metadata["image_size"]) == [IMAGE_SIZE, IMAGE_SIZE]
    for images in (
        uint8_images(3, IMAGE_SIZE, IMAGE_SIZE, 7),
        uint8_images(2, 27, 21, 8),
    ):
        probabilities, class_id = session.run(
            ["probabilities", "class_id"], {"images": images}
        )
        expected = keras_reference(classifier, images)
        assert probabilities.dtype == np.float32 and class_id.dtype == np.int64
        np.testing.assert_allclose(probabilities, expected, atol=1e-4, rtol=0)
        np.testing.assert_array_equal(class_id, expected.argmax(-1))


def test_cli_exports_keras_format(run_dir, tmp_path):
    result = CliRunner().invoke(
        export, [str(run_dir), str(tmp_path / "out"), "--format", "keras"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Exported keras to {tmp_path / 'out'}"
    assert (tmp_path / "out" / "model.keras").is_file()


def test_cli_refuses_non_empty_output_without_overwrite(run_dir, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old").write_text("x")
    args = [str(run_dir), str(tmp_path / "out"), "--format", "keras"]
    result = CliRunner().invoke(export, args)
    assert result.exit_code == 1
    assert result.output.startswith("Error: Export target is not empty")
    assert "--overwrite" in result.output
    assert CliRunner().invoke(export, [*args, "--overwrite"]).exit_code == 0
    assert not (tmp_path / "out" / "old").exists()


def test_cli_export_over_the_folder_holding_the_source_exits_1(run_dir, tmp_path):
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(run_dir, runs / "run")
    (runs / "notes.txt").write_text("unrelated file beside the run")
    before = {p: p.read_bytes() for p in runs.rglob("*") if p.is_file()}
    args = [str(runs / "run"), str(runs), "--format", "keras", "--overwrite"]
    result = CliRunner().invoke(export, args)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Error: Export target {runs} contains the source {runs / 'run'}; replacing "
        "it would delete the source. Choose a directory outside it"
    ]
    assert {p: p.read_bytes() for p in runs.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


def test_cli_run_dir_without_model_exits_1(tmp_path):
    (tmp_path / "run").mkdir()
    result = CliRunner().invoke(export, [str(tmp_path / "run"), str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "Error: No model found" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_version_with_keras_format_exits_1(run_dir, tmp_path):
    args = [str(run_dir), str(tmp_path / "out"), "--format", "keras", "--version", "2"]
    result = CliRunner().invoke(export, args)
    assert result.exit_code == 1
    assert "applies only to format='saved_model'" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["missing-run", "out"],
        ["{run}", "out", "--format", "tflite"],
        ["{run}", "out", "--version", "-1"],
        ["{run}"],
    ],
)
def test_cli_usage_errors_exit_2(run_dir, tmp_path, args):
    args = [arg.format(run=run_dir) for arg in args]
    with CliRunner().isolated_filesystem(temp_dir=tmp_path):
        result = CliRunner().invoke(export, args)
    assert result.exit_code == 2, result.output


def test_cli_help_shows_examples():
    result = CliRunner().invoke(export, ["--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output
    assert "--version 1" in result.output and "serving_default" in result.output

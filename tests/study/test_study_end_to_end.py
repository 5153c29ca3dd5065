"""compare() and plot through the real training engine, on tiny data."""

import csv
import json
import pathlib
import shutil
import subprocess

import pytest
import tiny
from import_blocker import blocked_python
from study_helpers import LIGHT_FILES, check_figure_files

from keras_resnet.study import compare, export_light_runs, find_runs

REPO = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

MODELS = ["resnet18", "resnet18_noskip"]


def tiny_config(**changes):
    """The shared tiny run (tests/tiny.py) with compare's models at 1/16 width:
    64 training, 16 validation and 32 test images in full batches of 16 (one
    traced step function each), a 16-image gradient probe."""
    values = dict(
        model=None,
        model_options=None,
        width_multiplier=0.0625,
        batch_size=16,
        max_train_examples=80,
        max_test_examples=32,
        validation_split=0.2,
        grad_probe_size=16,
    )
    return tiny.tiny_config(**{**values, **changes})


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    return folder, compare(MODELS, tiny_config(), output_dir=folder)


def test_compare_writes_runs_report_csv_and_figures(study):
    folder, results = study
    assert results.trained == MODELS
    with open(folder / "results.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [r["model"] for r in rows] == MODELS
    for row, run in zip(rows, results.runs, strict=True):
        assert 0.0 <= float(row["test_accuracy"]) <= 1.0
        assert int(row["epochs"]) == 2 and row["completed"] == "True"
        assert int(row["trainable_params"]) == run.metrics["trainable_params"] > 0
        assert float(row["grad_first_last_probe_first_record"]) > 0
        assert float(row["grad_early_late_probe_final_record"]) > 0
        assert row["reference_test_accuracy"] in ("0.899", "0.86")
    saved = json.loads((folder / "results.json").read_text())
    assert [r["model"] for r in saved["results"]] == MODELS
    report = (folder / "report.md").read_text()
    assert "| resnet18_noskip | " in report and "89.9%" in report
    assert "![fig1_training_curves](figures/fig1_training_curves.png)" in report
    training = any(run.gradient_norms.get("train") for run in results.runs)
    check_figure_files(results.figures, training=training)


def test_compare_again_reuses_completed_runs(study, tmp_path, no_figures):
    # find_runs picks the runs out of the folder (weights and backups beside
    # them). A second compare trains nothing; it would draw the same figures
    # (test_plot_redraws_every_figure_from_light_files_alone redraws them
    # from the runs, byte for byte), so it draws none here, in a copy.
    folder = pathlib.Path(shutil.copytree(study[0], tmp_path / "study"))
    assert [run.model for run in find_runs([folder])] == MODELS
    metrics = [folder / "runs" / m / "metrics.json" for m in MODELS]
    before = [p.stat().st_mtime_ns for p in metrics]
    again = compare(MODELS, tiny_config(), output_dir=folder)
    assert again.trained == [] and again.reused == MODELS
    assert [p.stat().st_mtime_ns for p in metrics] == before


DOCS_FOLDERS = ["docs/img/study", "docs/img/first_epochs", "docs/img/degradation"]
LIGHT = "light"  # the study's light files, exported into the clone
# `keras-resnet plot FOLDER` for each folder in one new process: the console
# entry point, once per folder, as separate commands would run it.
PLOT_EACH = """
import sys
from keras_resnet.cli import main
for folder in sys.argv[1:]:
    print("=== " + folder, flush=True)
    try:
        main(["plot", folder])
    except SystemExit as exit:
        if exit.code:
            raise
"""


def tracked_files(folder: str) -> list[str]:
    """Files of ``folder`` in git's index: what a fresh clone holds."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", folder], cwd=REPO, capture_output=True, text=True
    )
    return [name for name in listing.stdout.split("\0") if name]


@pytest.fixture(scope="module")
def fresh_clone(study, tmp_path_factory):
    """What a fresh clone holds, redrawn by `keras-resnet plot` in a new process.

    The docs folders' git-tracked files without their figures, and the
    study's runs exported as light files (``LIGHT``): no weights, backups
    or logs. Returns the clone, the tracked files per docs folder, the files
    export_light_runs wrote and those on disk before the plot, and the lines
    the command printed per folder.
    """
    clone = tmp_path_factory.mktemp("clone")
    tracked = {folder: tracked_files(folder) for folder in DOCS_FOLDERS}
    for name in (name for names in tracked.values() for name in names):
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / name, clone / name)
    for folder in DOCS_FOLDERS:
        shutil.rmtree(clone / folder / "figures")
    written = export_light_runs(study[0], clone / LIGHT)
    on_disk = [p for p in (clone / LIGHT).rglob("*") if p.is_file()]
    # Plotting reads JSON and draws: with Keras, TensorFlow and JAX
    # unimportable it must work the same (and start seconds sooner).
    result = blocked_python(
        PLOT_EACH,
        "keras",
        "tensorflow",
        "jax",
        args=[*DOCS_FOLDERS, LIGHT],
        cwd=clone,
        env={"TF_CPP_MIN_LOG_LEVEL": "2"},  # as cli.py sets it
    )
    assert result.returncode == 0, result.stderr[-3000:]
    printed = {}
    for line in result.stdout.splitlines():
        if line.startswith("=== "):
            lines = printed.setdefault(line[4:], [])
        else:
            lines.append(line)
    assert list(printed) == [*DOCS_FOLDERS, LIGHT]
    return clone, tracked, (written, on_disk), printed


def test_plot_redraws_every_figure_from_light_files_alone(study, fresh_clone):
    # What a fresh clone of the docs holds: the runs' light files, no
    # weights, backups or logs; `keras-resnet plot` redraws every figure
    # from them, byte for byte, in a new process.
    _, results = study
    clone, _, (written, on_disk), printed = fresh_clone
    light = clone / LIGHT
    expected = {f"runs/{m}/{name}" for m in MODELS for name in LIGHT_FILES}
    assert {p.relative_to(light).as_posix() for p in written} == expected
    # No .keras, backup/ or tensorboard/.
    assert {p.relative_to(light).as_posix() for p in on_disk} == expected
    assert printed[LIGHT] == [f"{LIGHT}/figures/{f.name}" for f in results.figures]
    for old in results.figures:
        assert (light / "figures" / old.name).read_bytes() == old.read_bytes()


@pytest.mark.parametrize("folder", DOCS_FOLDERS)
def test_plot_redraws_the_docs_figures_on_a_fresh_clone(fresh_clone, folder):
    clone, tracked, _, printed = fresh_clone
    files = tracked[folder]
    assert any("/runs/" in name for name in files), "run files not committed"
    committed = {
        pathlib.PurePosixPath(name).name
        for name in files
        if name.startswith(f"{folder}/figures/")
    }
    assert not any(name.endswith(".keras") for name in files)
    drawn = {pathlib.PurePosixPath(line).name for line in printed[folder]}
    assert drawn == committed
    assert {p.name for p in (clone / folder / "figures").iterdir()} == drawn

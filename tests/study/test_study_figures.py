import json

import pytest
from study_helpers import check_figure_files, write_fake_run

from keras_resnet.errors import RunDirectoryError
from keras_resnet.study import (
    MODEL_COLORS,
    load_run,
    model_colors,
    plot_runs,
    summarize_run,
)

STUDY = ("baseline_cnn", "mini_resnet", "resnet18", "resnet18_noskip")


def test_plot_runs_writes_every_figure(tmp_path):
    run_dirs = [write_fake_run(tmp_path / "runs" / m, m, epochs=4) for m in STUDY]
    files = plot_runs(run_dirs, tmp_path / "figures")
    check_figure_files(files)
    assert all(f.parent == tmp_path / "figures" for f in files)
    again = plot_runs(run_dirs, tmp_path / "again")
    for new, old in zip(again, files, strict=True):
        assert new.read_bytes() == old.read_bytes(), new.name


def test_plot_runs_accepts_a_study_folder_and_same_model_twice(tmp_path):
    for model in ("resnet18", "resnet18_noskip"):
        write_fake_run(tmp_path / "study" / "runs" / model, model)
    again = write_fake_run(tmp_path / "seed1", "resnet18", seed=1)
    files = plot_runs([tmp_path / "study", again], tmp_path / "out")
    check_figure_files(files)


def test_plot_runs_without_gradient_norms(tmp_path):
    run_dir = write_fake_run(tmp_path / "r", "resnet18")
    (run_dir / "gradient_norms.json").unlink()
    check_figure_files(plot_runs([run_dir], tmp_path / "out"))


def test_plot_runs_rejects_a_folder_without_runs(tmp_path):
    with pytest.raises(RunDirectoryError, match="No run directory"):
        plot_runs([tmp_path], tmp_path / "out")


def test_model_colors_fixed_for_study_models_and_distinct():
    colors = model_colors(["resnet18", "custom_a", "custom_b", "baseline_cnn"])
    assert colors["resnet18"] == MODEL_COLORS["resnet18"]
    assert colors["baseline_cnn"] == MODEL_COLORS["baseline_cnn"]
    assert len(set(colors.values())) == 4


def test_runs_without_validation_split_still_plot_and_report(tmp_path):
    run_dir = write_fake_run(tmp_path / "r", "resnet18")
    history = json.loads((run_dir / "history.json").read_text())
    for key in ("val_loss", "val_accuracy"):
        history.pop(key)
    (run_dir / "history.json").write_text(json.dumps(history))
    row = summarize_run(load_run(run_dir))
    assert row["epochs_to_80pct_best"] is None and row["epochs_to_90pct_best"] is None
    files = plot_runs([run_dir], tmp_path / "out")
    assert len(files) == 12 and all(f.stat().st_size > 5_000 for f in files)

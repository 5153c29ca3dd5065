import json

import pytest
from study_helpers import (
    RESNET_LAYERS,
    check_figure_files,
    write_fake_run,
)

from keras_resnet.errors import RunDirectoryError
from keras_resnet.study import (
    MODEL_COLORS,
    find_runs,
    load_run,
    model_colors,
    plot_runs,
    summarize_run,
)

STUDY = ("baseline_cnn", "mini_resnet", "resnet18", "resnet18_noskip")


def test_plot_runs_rejects_a_folder_without_runs(tmp_path):
    with pytest.raises(RunDirectoryError, match="No run directory"):
        plot_runs([tmp_path], tmp_path / "out")


def test_model_colors_fixed_for_study_models_and_distinct():
    colors = model_colors(["resnet18", "custom_a", "custom_b", "baseline_cnn"])
    assert colors["resnet18"] == MODEL_COLORS["resnet18"]
    assert colors["baseline_cnn"] == MODEL_COLORS["baseline_cnn"]
    assert len(set(colors.values())) == 4


# Every figure, the training-gradient one included, and the same model twice:
# test_study_cli.test_plot_cli_draws_every_figure_of_a_study_folder.


def test_runs_without_gradient_norms_or_validation_split(tmp_path):
    # One run missing both: the curves and the gradient figures each draw
    # without their data, and the summary has no epochs-to-X%.
    run_dir = write_fake_run(tmp_path / "r", "resnet18")
    (run_dir / "gradient_norms.json").unlink()
    history = json.loads((run_dir / "history.json").read_text())
    for key in ("val_loss", "val_accuracy"):
        history.pop(key)
    (run_dir / "history.json").write_text(json.dumps(history))
    row = summarize_run(load_run(run_dir))
    assert row["epochs_to_80pct_best"] is None and row["epochs_to_90pct_best"] is None
    files = plot_runs([run_dir], tmp_path / "out")
    check_figure_files(files)


def main_and_shortcut_lines(ax):
    # Lines drawn with a style: the main path has "." markers, shortcut
    # convolutions hollow triangles and no connecting line.
    main = [line for line in ax.get_lines() if line.get_marker() == "."]
    sides = [line for line in ax.get_lines() if line.get_marker() == "^"]
    return main, sides


def test_fig3_lines_up_skip_and_noskip_by_role_with_shortcuts_apart(tmp_path):
    from keras_resnet.study.figures import _gradient_profiles, _norm_matrix

    plain_layers = [n for n in RESNET_LAYERS if "shortcut" not in n]
    write_fake_run(tmp_path / "a", "resnet18", layers=RESNET_LAYERS)
    write_fake_run(tmp_path / "b", "resnet18_noskip", layers=plain_layers)
    runs = find_runs([tmp_path / "a", tmp_path / "b"])
    labels = [run.model for run in runs]
    figure = _gradient_profiles(runs, labels, model_colors(labels))
    for ax in figure.axes:
        main, sides = main_and_shortcut_lines(ax)
        skip, plain = main
        assert list(skip.get_xdata()) == list(plain.get_xdata()) == [1, 2, 3, 4, 5, 6]
        (shortcut,) = sides  # resnet18's one shortcut, at s2b1c1 + 0.5
        assert list(shortcut.get_xdata()) == [4.5]
        assert shortcut.get_linestyle() == "None"
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert ticks == ["stem", "s1b1c1", "s1b1c2", "s2b1c1", "s2b1c2", "fc"]
    matrix, rows, columns = _norm_matrix(runs[0].gradient_norms)
    assert rows == ["stem", "s1b1c1", "s1b1c2", "s2b1c1", "s2b1c2", "fc", "", "s2b1 sc"]
    assert matrix.shape == (8, len(columns))

"""``keras-resnet compare`` and ``plot`` through click's CliRunner."""

import json
import pathlib

import pytest
import yaml
from click.testing import CliRunner
from study_helpers import (
    RESNET_LAYERS,
    TRAINING_FIGURE,
    check_figure_files,
    write_fake_run,
)

from keras_resnet import list_models
from keras_resnet.cli import cli
from keras_resnet.study import load_run, write_results

TINY = ["--dataset", "synthetic", "--epochs", "2", "--width-multiplier", "0.0625"]


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_compare_cli_trains_reports_and_reuses(tmp_path, fake_trainer, no_figures):
    calls, configs = fake_trainer
    out = tmp_path / "study"
    result = invoke(
        "compare", "--models", "resnet18,mini_resnet", *TINY, "--output", str(out)
    )
    assert result.exit_code == 0, result.output
    assert [c["model"] for c in calls] == ["resnet18", "mini_resnet"]
    assert {(c.epochs, c.width_multiplier, c.dataset) for c in configs} == {
        (2, 0.0625, "synthetic")
    }
    assert configs[0].output_dir == str(out / "runs" / "resnet18")
    assert "Report: " + str(out / "report.md") in result.output
    assert (out / "results.csv").is_file()
    again = invoke("compare", "--models", "resnet18,mini_resnet", *TINY, "-o", str(out))
    assert again.exit_code == 0, again.output
    assert "resnet18: completed, reused" in again.output
    assert len(calls) == 2


def test_compare_cli_config_file_and_override(tmp_path, fake_trainer, no_figures):
    _, configs = fake_trainer
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump({"dataset": "synthetic", "epochs": 5, "seed": 3}))
    result = invoke(
        "compare",
        "--models",
        "resnet18",
        "--config",
        str(config),
        "--epochs",
        "1",
        "--output",
        str(tmp_path / "s"),
    )
    assert result.exit_code == 0, result.output
    assert (configs[0].epochs, configs[0].seed) == (1, 3)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--models", "resnet18,resnet99"], "'resnet99' is not one of"),
        (["--models", "resnet18,resnet18"], "each model may appear once"),
        (["--models", "resnet18", "--no-skip"], "does not apply to compare"),
        (["--models", "resnet18", "--output", "a", "--output-dir", "b"], "give one"),
        (["--epochs", "0"], "--epochs"),
    ],
)
def test_compare_cli_usage_errors_exit_2(tmp_path, fake_trainer, args, message):
    calls, _ = fake_trainer
    result = invoke("compare", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert calls == []


def test_compare_cli_unknown_model_lists_choices(fake_trainer):
    result = invoke("compare", "--models", "nope")
    assert result.exit_code == 2
    assert ", ".join(list_models()) in result.output


def test_plot_cli_draws_every_figure_of_a_study_folder(tmp_path):
    study = tmp_path / "study"
    for model in ("baseline_cnn", "mini_resnet", "resnet18_noskip"):
        write_fake_run(study / "runs" / model, model, epochs=4)
    # One new-schema run (training-gradient norms) among old ones is enough
    # for the training-gradient figure; runs without any leave it out
    # (the other plot tests expect exactly the six figures then).
    write_fake_run(
        study / "runs" / "resnet18",
        "resnet18",
        epochs=4,
        layers=RESNET_LAYERS,
        train=True,
    )
    # The same model twice: told apart by folder name in the legends.
    write_fake_run(study / "runs" / "seed1", "resnet18", seed=1)
    result = invoke("plot", str(study))
    assert result.exit_code == 0, result.output
    files = sorted((study / "figures").iterdir())
    assert result.output.split() == [
        str(f) for f in sorted(files, key=lambda p: result.output.index(str(p)))
    ]
    check_figure_files(files, training=True)
    assert study / "figures" / f"{TRAINING_FIGURE}.png" in files


def test_plot_cli_errors(tmp_path):
    missing = invoke("plot", str(tmp_path / "missing"))
    assert missing.exit_code == 2
    assert "does not exist" in missing.output
    empty = invoke("plot", str(tmp_path), "--output", str(tmp_path / "f"))
    assert empty.exit_code == 1
    assert empty.output.startswith("Error: No run directory found in")
    assert invoke("plot").exit_code == 2


def test_plot_report_rewrites_results_from_light_runs_in_table_order(tmp_path):
    study = tmp_path / "study"
    for model in ("resnet18_noskip", "resnet18"):
        write_fake_run(study / "runs" / model, model)
    # A previous table's order is kept (not the folders' name order).
    (study / "results.json").write_text(
        json.dumps({"results": [{"model": "resnet18_noskip"}, {"model": "gone"}]})
    )
    result = invoke("plot", str(study), "--report")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"Report: {study / 'report.md'}"
    check_figure_files(sorted((study / "figures").iterdir()))
    rows = json.loads((study / "results.json").read_text())["results"]
    assert [r["model"] for r in rows] == ["resnet18_noskip", "resnet18"]
    assert rows[1]["grad_first_last_probe_first_record"] == pytest.approx(0.5**3)
    assert "## Gradient flow" in (study / "report.md").read_text()
    assert (study / "results.csv").read_text().count("\n") == 3


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--output", "f"], "drop --output"),
        (["OTHER"], "exactly one compare folder"),
    ],
)
def test_plot_report_usage_errors_exit_2(tmp_path, extra, message):
    write_fake_run(tmp_path / "study" / "runs" / "resnet18", "resnet18")
    other = write_fake_run(tmp_path / "run", "resnet18")
    args = [str(other) if a == "OTHER" else a for a in extra]
    result = invoke("plot", str(tmp_path / "study"), "--report", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "study" / "results.json").exists()


def fake_study(folder, models=("resnet18_noskip", "resnet18")):
    for model in models:
        write_fake_run(folder / "runs" / model, model)
    return folder


def test_plot_cli_draws_each_format_asked_for_byte_for_byte_again(tmp_path):
    # The vector formats (PNG: every other plot test, and redrawn byte for
    # byte in test_study_end_to_end).
    study = fake_study(tmp_path / "study")
    first = invoke(
        "plot", str(study), "--output", str(tmp_path / "a"), "--format", "pdf",
        "--format", "svg",
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    files = [pathlib.Path(line) for line in first.output.split()]
    check_figure_files(files, formats=("pdf", "svg"))
    # Each figure's formats in the order asked for.
    assert [f.suffix for f in files[:4]] == [".pdf", ".svg", ".pdf", ".svg"]
    # Drawn again elsewhere, in another order: the same bytes (no dates,
    # fixed SVG ids, and one layout whatever the formats). A repeated format
    # is drawn once.
    again = invoke(
        "plot", str(study), "--output", str(tmp_path / "b"), "--format", "svg",
        "--format", "pdf", "--format", "svg",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    names = [pathlib.Path(line).name for line in again.output.split()]
    assert names[:2] == [files[1].name, files[0].name]
    assert sorted(names) == sorted(path.name for path in files)
    for path in files:
        assert (tmp_path / "b" / path.name).read_bytes() == path.read_bytes(), path


def test_plot_cli_refuses_an_unknown_format_before_drawing(tmp_path):
    study = fake_study(tmp_path / "study")
    result = invoke("plot", str(study), "--format", "gif")
    assert result.exit_code == 2
    assert "Invalid value for '--format': 'gif' is not one of" in result.output
    assert "'png', 'svg', 'pdf'" in result.output
    assert not (study / "figures").exists()


def test_report_embeds_each_figures_png_else_its_svg_and_links_a_pdf(tmp_path):
    runs = [load_run(write_fake_run(tmp_path / "runs" / "resnet18", "resnet18"))]
    folder = tmp_path / "figures"
    for suffixes, line in (
        ((".pdf", ".svg"), "![fig1_curves](figures/fig1_curves.svg)"),
        ((".pdf",), "[fig1_curves](figures/fig1_curves.pdf)"),
        ((".svg", ".png", ".pdf"), "![fig1_curves](figures/fig1_curves.png)"),
    ):
        figures = [folder / f"{stem}{suffix}" for stem in ("fig1_curves", "fig2")
                   for suffix in suffixes]  # fmt: skip
        write_results(runs, tmp_path, figures=figures)
        lines = (tmp_path / "report.md").read_text().splitlines()
        assert line in lines, suffixes
        # One entry per figure, in the figures' order, whatever the formats.
        shown = [x for x in lines if x.startswith(("![fig", "[fig"))]
        assert [x.split("]")[0].lstrip("![") for x in shown] == ["fig1_curves", "fig2"]


def test_compare_cli_passes_the_figure_formats(tmp_path, fake_trainer, monkeypatch):
    drawn = []
    monkeypatch.setattr(
        "keras_resnet.study.comparison.plot_records",
        lambda runs, folder, formats: drawn.append(formats) or [],
    )
    out = tmp_path / "study"
    result = invoke(
        "compare", "--models", "resnet18,resnet18_noskip", *TINY, "--output",
        str(out), "--figure-format", "svg", "--figure-format", "pdf", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert drawn == [("svg", "pdf")]
    default = invoke("compare", "--models", "resnet18", *TINY, "-o", str(out), "-q")
    assert default.exit_code == 0, default.output
    assert drawn[-1] == ("png",)
    refused = invoke(
        "compare", *TINY, "-o", str(tmp_path / "x"), "--figure-format", "eps"
    )
    assert refused.exit_code == 2
    assert "Invalid value for '--figure-format': 'eps'" in refused.output
    assert not (tmp_path / "x").exists()

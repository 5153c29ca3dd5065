"""Studies of labelled model variants: one registered model, several builder
options (He et al.'s Fig. 6: plain and residual nets at two depths)."""

import csv
import json

import pytest
import yaml
from click.testing import CliRunner
from study_helpers import write_fake_run

from keras_resnet.cli import cli
from keras_resnet.study import (
    StudyModel,
    compare,
    find_runs,
    parse_study_models,
    plot_runs,
)
from keras_resnet.study.comparison import study_configs
from keras_resnet.study.figures import shortcut_kind
from keras_resnet.train.config import TrainConfig

PLAIN_20 = {"blocks_per_stage": 3, "use_skip": False}
VARIANTS = {
    "plain-20": {"model": "mini_resnet", "model_options": PLAIN_20},
    "plain-56": {
        "model": "mini_resnet",
        "model_options": {"blocks_per_stage": 9, "use_skip": False},
    },
    "resnet-20": "mini_resnet",
}
TINY = ["--dataset", "synthetic", "--epochs", "2"]


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_every_form_gives_labelled_models_in_order():
    assert parse_study_models("resnet18, mini_resnet") == [
        StudyModel("resnet18", "resnet18"),
        StudyModel("mini_resnet", "mini_resnet"),
    ]
    models = parse_study_models(VARIANTS)
    assert [m.label for m in models] == ["plain-20", "plain-56", "resnet-20"]
    assert models[0] == StudyModel("plain-20", "mini_resnet", PLAIN_20)
    assert models[2] == StudyModel("resnet-20", "mini_resnet", {})
    assert models[0].describe() == ("mini_resnet(blocks_per_stage=3, use_skip=False)")
    assert models[2].describe() == "mini_resnet"
    assert parse_study_models([models[1], "resnet18"])[0] is models[1]


@pytest.mark.parametrize(
    "models, message",
    [
        ([], "must name at least one model"),
        ("resnet18,resnet18", "Each model may appear once"),
        ({"../up": "resnet18"}, "plain folder name"),
        ({"a/b": "resnet18"}, "Received: label='a/b'"),
        ({"x": {"model": "mini_resnet", "epochs": 3}}, "Received: x.epochs=3"),
        ({"x": {"model_options": {}}}, "'x' needs 'model'"),
        ({"x": {"model": "mini_resnet", "model_options": 3}}, "must be a mapping"),
        ({"x": 3}, "must be a model name or a mapping"),
        (3, "must be a list of model names or a mapping"),
    ],
)
def test_bad_study_models_are_refused_naming_them(models, message):
    with pytest.raises(ValueError) as error:
        parse_study_models(models)
    assert message in str(error.value)


def test_study_configs_lay_the_options_over_the_recipe(tmp_path):
    base = TrainConfig(model_options={"normalization": "batch"}, epochs=4)
    configs = study_configs(VARIANTS, base, tmp_path / "runs")
    assert list(configs) == ["plain-20", "plain-56", "resnet-20"]
    plain = configs["plain-20"]
    assert plain.model == "mini_resnet" and plain.epochs == 4
    assert plain.model_options == {"normalization": "batch", **PLAIN_20}
    assert plain.output_dir == str(tmp_path / "runs" / "plain-20")
    assert configs["resnet-20"].model_options == {"normalization": "batch"}


@pytest.mark.parametrize(
    "models, message",
    [
        ({"x": {"model": "mini_resnet", "model_options": {"depth": 3}}}, "'depth'"),
        ({"x": {"model": "baseline_cnn", "model_options": {"use_skip": False}}}, ""),
        ({"x": "resnet19"}, "resnet19"),
    ],
)
def test_compare_checks_every_model_before_training_any(
    tmp_path, fake_trainer, models, message
):
    calls, _ = fake_trainer
    # The good model comes first: it must not train before the bad one fails.
    with pytest.raises(ValueError) as error:
        compare({"ok": "resnet18", **models}, TrainConfig(), output_dir=tmp_path)
    assert message in str(error.value)
    assert calls == [] and not (tmp_path / "runs").exists()


def test_variants_train_into_their_labels_and_report_under_them(tmp_path, fake_trainer):
    calls, configs = fake_trainer
    results = compare(
        VARIANTS, TrainConfig(dataset="synthetic", epochs=2), output_dir=tmp_path
    )
    assert [c.output_dir for c in configs] == [
        str(tmp_path / "runs" / label) for label in VARIANTS
    ]
    assert [c.model_options for c in configs] == [
        PLAIN_20,
        {"blocks_per_stage": 9, "use_skip": False},
        {},
    ]
    with open(tmp_path / "results.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [(r["model"], r["architecture"]) for r in rows] == [
        ("plain-20", "mini_resnet(blocks_per_stage=3, use_skip=False)"),
        ("plain-56", "mini_resnet(blocks_per_stage=9, use_skip=False)"),
        ("resnet-20", "mini_resnet"),
    ]
    report = (tmp_path / "report.md").read_text()
    assert (
        "- Models: plain-20 = `mini_resnet(blocks_per_stage=3, use_skip=False)`; "
        in report
    )
    assert "| plain-56 | " in report
    # No reference figure for any of them: no table against the reference.
    assert "## Against the reference study" not in report
    stems = {path.stem for path in results.figures}
    assert "fig6_error_curves" in stems
    assert not {"fig4_training_resnet18", "fig5_validation_resnet18"} & stems
    assert [run.label for run in results.runs] == list(VARIANTS)


def test_a_label_whose_model_changed_is_not_reused(tmp_path, fake_trainer, no_figures):
    calls, _ = fake_trainer
    config = TrainConfig(dataset="synthetic", epochs=2)
    compare({"deep": VARIANTS["plain-20"]}, config, output_dir=tmp_path)
    before = (tmp_path / "runs" / "deep" / "config.yaml").read_bytes()
    deeper = {"deep": VARIANTS["plain-56"]}
    with pytest.raises(ValueError) as error:
        compare(deeper, config, output_dir=tmp_path)
    assert str(error.value).startswith(
        "The run of study model 'deep' in "
        f"{tmp_path / 'runs' / 'deep'} trained "
        "mini_resnet(blocks_per_stage=3, use_skip=False), not "
        "mini_resnet(blocks_per_stage=9, use_skip=False)"
    )
    assert len(calls) == 1
    assert (tmp_path / "runs" / "deep" / "config.yaml").read_bytes() == before
    compare(deeper, config, output_dir=tmp_path, overwrite=True)
    assert len(calls) == 2


def test_fig6_puts_plain_and_residual_nets_apart(tmp_path):
    from keras_resnet.study.figures import _error_curves, model_colors

    write_fake_run(tmp_path / "runs" / "baseline_cnn", "baseline_cnn")
    write_fake_run(tmp_path / "runs" / "resnet18", "resnet18")
    write_fake_run(
        tmp_path / "runs" / "plain-20", "mini_resnet", model_options=PLAIN_20
    )
    write_fake_run(tmp_path / "runs" / "mine", "my_registered_net")
    runs = find_runs([tmp_path])
    assert [(r.label, shortcut_kind(r)) for r in runs] == [
        ("baseline_cnn", "plain"),
        ("mine", "other"),
        ("plain-20", "plain"),
        ("resnet18", "residual"),
    ]
    labels = [run.label for run in runs]
    figure = _error_curves(runs, labels, model_colors(labels))
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == [
        "Plain (no shortcuts)",
        "Residual (with shortcuts)",
        "Other models",
    ]
    plain = figure.axes[0]
    # Per run: training error (dashed, thin), validation error (solid, bold).
    lines = plain.get_lines()
    assert [line.get_linestyle() for line in lines] == ["--", "-", "--", "-"]
    history = runs[0].history
    assert list(lines[0].get_ydata()) == pytest.approx(
        [100 * (1 - a) for a in history["accuracy"]]
    )
    assert list(lines[1].get_ydata()) == pytest.approx(
        [100 * (1 - a) for a in history["val_accuracy"]]
    )
    legend = [text.get_text() for text in plain.get_legend().get_texts()]
    assert legend == ["baseline_cnn", "plain-20", "training error", "validation error"]


def test_plot_labels_a_compare_folder_by_its_run_folders(tmp_path):
    for label, options in (("plain-20", PLAIN_20), ("resnet-20", None)):
        write_fake_run(tmp_path / "runs" / label, "mini_resnet", model_options=options)
    files = plot_runs([tmp_path], tmp_path / "figures", formats=["svg"])
    assert {f.stem for f in files} >= {"fig1_training_curves", "fig6_error_curves"}
    svg = (tmp_path / "figures" / "fig1_training_curves.svg").read_text()
    assert "plain-20" in svg and "resnet-20" in svg
    assert "mini_resnet" not in svg


def test_compare_reads_the_models_of_its_config_file(
    tmp_path, fake_trainer, no_figures
):
    calls, configs = fake_trainer
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"models": VARIANTS, "epochs": 3}))
    out = tmp_path / "study"
    result = invoke("compare", "--config", str(path), *TINY, "--output", str(out))
    assert result.exit_code == 0, result.output
    assert [c.output_dir for c in configs] == [
        str(out / "runs" / label) for label in VARIANTS
    ]
    assert configs[0].model_options == PLAIN_20 and configs[0].epochs == 2
    rows = json.loads((out / "results.json").read_text())["results"]
    assert [r["model"] for r in rows] == list(VARIANTS)
    # --models picks labels of the file (and registered models) in its order.
    calls.clear()
    out2 = tmp_path / "two"
    result = invoke(
        "compare", "--config", str(path), *TINY, "--models",
        "resnet18,plain-56", "-o", str(out2),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [c["model"] for c in calls] == ["resnet18", "mini_resnet"]
    assert configs[-1].model_options == {"blocks_per_stage": 9, "use_skip": False}
    assert sorted(p.name for p in (out2 / "runs").iterdir()) == [
        "plain-56",
        "resnet18",
    ]


@pytest.mark.parametrize(
    "models, message",
    [
        (
            {"plain-20": {"model": "mini_resnt"}},
            "models: plain-20: 'mini_resnt' is not one of the registered models "
            "(did you mean mini_resnet?)",
        ),
        ({"a b": "resnet18"}, "A study label must be a plain folder name"),
        ({"x": {"model": "resnet18", "lr": 1}}, "'x' has the key 'lr'"),
    ],
)
def test_bad_models_in_a_config_file_exit_2_naming_the_file(
    tmp_path, fake_trainer, models, message
):
    calls, _ = fake_trainer
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"models": models}))
    result = invoke("compare", "--config", str(path), "-o", str(tmp_path / "s"))
    assert result.exit_code == 2, result.output
    assert f"{path}: " in result.output and message in result.output
    assert calls == []


def test_models_of_a_config_file_and_other_commands(tmp_path, fake_trainer):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"models": VARIANTS}))
    unknown = invoke("compare", "--config", str(path), "--models", "plain-30")
    assert unknown.exit_code == 2
    assert "The config file's models: plain-20, plain-56, resnet-20." in (
        unknown.output
    )
    fit = invoke("fit", "--config", str(path), "--dataset", "synthetic")
    assert fit.exit_code == 2
    assert (
        f"{path} is a study ('models' lists several models), read by keras-resnet "
        "compare; fit trains one model: name it as MODEL or with the 'model' key."
    ) in " ".join(fit.output.split())


def test_variants_build_what_they_say(tmp_path):
    # What the engine builds from each study config (the engine's own tests
    # train with model_options): ResNet-8's two projection shortcuts are the
    # only parameters its plain twin lacks.
    from keras_resnet.models import build_model

    variants = {
        "plain-8": {
            "model": "mini_resnet",
            "model_options": {"blocks_per_stage": 1, "use_skip": False},
        },
        "resnet-8": {"model": "mini_resnet", "model_options": {"blocks_per_stage": 1}},
    }
    base = TrainConfig(width_multiplier=0.0625)
    plain, residual = (
        build_model(
            config.model,
            width_multiplier=config.width_multiplier,
            **config.model_options,
        ).count_params()
        for config in study_configs(variants, base, tmp_path).values()
    )
    # At 1/16 width the stages have 1, 2 and 4 channels: 1x1 projections
    # 1->2 and 2->4 without bias (2 + 8 weights), plus their batch norms'
    # scales, offsets and moving statistics (4 x (2 + 4)).
    assert residual - plain == 2 + 8 + 4 * (2 + 4)

"""The study presets load as valid configs and share the study's recipe."""

import pathlib

import pytest
import yaml

from keras_resnet.train.config import TrainConfig

CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"
RECIPE = ("optimizer", "momentum", "nesterov", "weight_decay", "schedule", "augment")


@pytest.mark.parametrize("name", ["compare", "quick_cpu", "first_epochs_cpu"])
def test_preset_is_a_valid_config_without_a_model(name):
    path = CONFIGS / "study" / f"{name}.yaml"
    values = yaml.safe_load(path.read_text())
    assert "model" not in values and "output_dir" not in values
    TrainConfig.from_yaml(path)


def test_compare_preset_matches_the_per_model_study_configs():
    compare = yaml.safe_load((CONFIGS / "study" / "compare.yaml").read_text())
    resnet18 = yaml.safe_load((CONFIGS / "study" / "resnet18.yaml").read_text())
    for key in (*RECIPE, "epochs", "batch_size", "learning_rate", "seed", "dataset"):
        assert compare[key] == resnet18[key], key


def test_quick_preset_uses_the_shared_copy_at_reduced_size():
    config = TrainConfig.from_yaml(CONFIGS / "study" / "quick_cpu.yaml")
    assert config.dataset == "../shared/data/cifar10-jpeg"
    assert config.width_multiplier < 1 and config.max_train_examples <= 10_000
    compare = TrainConfig.from_yaml(CONFIGS / "study" / "compare.yaml")
    assert [getattr(config, k) for k in RECIPE] == [getattr(compare, k) for k in RECIPE]


def test_quick_preset_dataset_path_resolves_from_the_repo_root(shared_cifar_dir):
    config = TrainConfig.from_yaml(CONFIGS / "study" / "quick_cpu.yaml")
    folder = (CONFIGS.parent / config.dataset).resolve()
    assert folder == shared_cifar_dir.resolve()
    assert (folder / "train.tar.gz").is_file() and (folder / "test.tar.gz").is_file()


def test_degradation_preset_is_he_et_al_fig6_at_20_and_56_layers(shared_cifar_dir):
    from keras_resnet.study import parse_study_models

    values = yaml.safe_load((CONFIGS / "study" / "degradation_cpu.yaml").read_text())
    models = parse_study_models(values.pop("models"))
    assert [(m.label, m.model) for m in models] == [
        ("plain-20", "mini_resnet"),
        ("plain-56", "mini_resnet"),
        ("resnet-20", "mini_resnet"),
        ("resnet-56", "mini_resnet"),
    ]
    assert [
        (m.model_options["blocks_per_stage"], m.model_options.get("use_skip", True))
        for m in models
    ] == [(3, False), (9, False), (3, True), (9, True)]
    config = TrainConfig.from_dict(values)
    assert (CONFIGS.parent / config.dataset).resolve() == shared_cifar_dir.resolve()
    assert config.width_multiplier == 1 and config.max_test_examples is None
    # Sized for an hour on a 2-core CPU (docs/results.md has the measured time).
    assert config.max_train_examples * config.epochs <= 120_000
    compare = TrainConfig.from_yaml(CONFIGS / "study" / "quick_cpu.yaml")
    assert [getattr(config, k) for k in RECIPE] == [getattr(compare, k) for k in RECIPE]

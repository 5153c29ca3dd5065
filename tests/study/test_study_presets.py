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

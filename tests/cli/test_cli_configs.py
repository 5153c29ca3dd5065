"""Every YAML under configs/ is a valid TrainConfig; the study presets agree."""

import pathlib

import pytest

from keras_resnet import list_models
from keras_resnet.study import parse_study_models
from keras_resnet.train.config import TrainConfig, read_yaml

CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"
STUDY_MODELS = ("baseline_cnn", "mini_resnet", "resnet18", "resnet18_noskip")


@pytest.mark.parametrize(
    "path", sorted(CONFIGS.rglob("*.yaml")), ids=lambda path: path.name
)
def test_every_config_loads(path):
    values = read_yaml(path)
    # A study's file lists its models; compare reads that key itself.
    models = parse_study_models(values.pop("models", []) or ["resnet18"])
    config = TrainConfig.from_dict(values, source=str(path))
    assert {config.model, *(m.model for m in models)} <= set(list_models())


@pytest.mark.parametrize("model", STUDY_MODELS)
def test_study_presets_exist_for_each_model(model):
    config = TrainConfig.from_yaml(CONFIGS / "study" / f"{model}.yaml")
    assert config.model == model
    assert config.output_dir == f"runs/study/{model}"


def test_study_presets_share_one_recipe():
    recipes = []
    for model in STUDY_MODELS:
        values = read_yaml(CONFIGS / "study" / f"{model}.yaml")
        recipes.append(
            {k: v for k, v in values.items() if k not in ("model", "output_dir")}
        )
    assert all(recipe == recipes[0] for recipe in recipes)
    study = TrainConfig.from_dict(recipes[0])
    assert (study.optimizer, study.learning_rate, study.momentum) == ("sgd", 0.1, 0.9)
    assert (study.weight_decay, study.schedule, study.batch_size) == (
        5e-4,
        "cosine",
        128,
    )
    assert study.epochs == 100


def test_best_recipe_is_stronger_than_the_study():
    best = TrainConfig.from_yaml(CONFIGS / "resnet18_best.yaml")
    study = TrainConfig.from_yaml(CONFIGS / "study" / "resnet18.yaml")
    assert best.model == "resnet18"
    assert best.epochs > study.epochs
    assert best.label_smoothing > 0 and best.cutout > 0 and best.nesterov
    assert best.precision == "mixed_bfloat16"

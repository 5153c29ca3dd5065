"""The shared training options and the config resolver."""

import click
import pytest
import yaml
from click.testing import CliRunner

from keras_resnet.cli.options import (
    TrainingOptions,
    option_fields,
    resolve_config,
    training_options,
)
from keras_resnet.train.config import TrainConfig


@click.command()
@click.argument("model", required=False)
@training_options
def show(model, training):
    """Print the resolved config as YAML (a stand-in for a real command)."""
    click.echo(yaml.safe_dump(resolve_config(training, model=model).to_dict()))


def resolved(*args: str) -> dict:
    result = CliRunner().invoke(show, list(args))
    assert result.exit_code == 0, result.output
    return yaml.safe_load(result.output)


def write_config(path, **values):
    path.write_text(yaml.safe_dump(values))
    return str(path)


def test_every_config_field_has_an_option():
    assert sorted(option_fields() + ["model", "model_options"]) == sorted(
        TrainConfig.field_names()
    )


def test_no_options_gives_train_config_defaults():
    assert resolved("resnet18") == TrainConfig(model="resnet18").to_dict()


def test_each_option_reaches_its_field():
    values = resolved(
        "mini_resnet",
        "--dataset=synthetic",
        "--data-dir=/tmp/tfds",
        "--epochs=3",
        "--batch-size=16",
        "--optimizer=adamw",
        "--learning-rate=0.01",
        "--momentum=0.8",
        "--no-nesterov",
        "--weight-decay=0.001",
        "--schedule=onecycle",
        "--warmup-epochs=2",
        "--label-smoothing=0.1",
        "--width-multiplier=0.5",
        "--max-train-examples=100",
        "--max-test-examples=50",
        "--validation-split=0.2",
        "--augment=none",
        "--cutout=8",
        "--mixup-alpha=0.2",
        "--cutmix-alpha=1.0",
        "--precision=mixed_bfloat16",
        "--no-jit-compile",
        "--steps-per-execution=4",
        "--strategy=mirrored",
        "--seed=7",
        "--grad-norm-every=2",
        "--grad-norm-steps=0,5",
        "--grad-probe-size=64",
        "--output-dir=out/run",
        "--verbose=2",
    )
    expected = TrainConfig(
        model="mini_resnet",
        dataset="synthetic",
        data_dir="/tmp/tfds",
        epochs=3,
        batch_size=16,
        optimizer="adamw",
        learning_rate=0.01,
        momentum=0.8,
        nesterov=False,
        weight_decay=0.001,
        schedule="onecycle",
        warmup_epochs=2.0,
        label_smoothing=0.1,
        width_multiplier=0.5,
        max_train_examples=100,
        max_test_examples=50,
        validation_split=0.2,
        augment="none",
        cutout=8,
        mixup_alpha=0.2,
        cutmix_alpha=1.0,
        precision="mixed_bfloat16",
        jit_compile=False,
        steps_per_execution=4,
        strategy="mirrored",
        seed=7,
        grad_norm_every=2,
        grad_norm_steps=[0, 5],
        grad_probe_size=64,
        output_dir="out/run",
        verbose=2,
    )
    assert values == expected.to_dict()


def test_config_file_fills_and_options_override(tmp_path):
    path = write_config(
        tmp_path / "recipe.yaml",
        model="mini_resnet",
        epochs=100,
        batch_size=64,
        weight_decay="5e-4",
        model_options={"blocks_per_stage": 5},
    )
    values = resolved("--config", path, "--epochs", "2")
    assert values["model"] == "mini_resnet"  # from the file
    assert values["batch_size"] == 64  # from the file
    assert values["weight_decay"] == pytest.approx(5e-4)  # "5e-4" coerced
    assert values["epochs"] == 2  # the option wins
    assert values["learning_rate"] == TrainConfig.learning_rate  # default
    assert values["model_options"] == {"blocks_per_stage": 5}


def test_model_argument_overrides_the_file_model(tmp_path):
    path = write_config(tmp_path / "recipe.yaml", model="mini_resnet")
    assert resolved("resnet18", "--config", path)["model"] == "resnet18"


def test_model_options_and_skip_merge_over_the_file(tmp_path):
    path = write_config(
        tmp_path / "recipe.yaml", model_options={"blocks_per_stage": 5, "a": 1}
    )
    values = resolved(
        "mini_resnet",
        "--config",
        path,
        "--model-option",
        "blocks_per_stage=7",
        "--model-option",
        "input_shape=[64, 64, 3]",
        "--no-skip",
    )
    assert values["model_options"] == {
        "blocks_per_stage": 7,
        "a": 1,
        "input_shape": [64, 64, 3],
        "use_skip": False,
    }


def test_normalization_option_reaches_the_builder_options():
    values = resolved("resnet18", "--normalization", "none", "--no-skip")
    assert values["model_options"] == {"normalization": "none", "use_skip": False}
    result = CliRunner().invoke(show, ["resnet18", "--normalization", "layer"])
    assert result.exit_code == 2
    assert "'layer' is not one of 'batch', 'none'" in result.output


def test_skip_flag_for_a_model_without_skips_is_a_usage_error():
    result = CliRunner().invoke(show, ["baseline_cnn", "--skip"])
    assert result.exit_code == 2
    assert "has no skip connections" in result.output


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--epochs", "0"], "--epochs"),
        (["--batch-size", "-1"], "--batch-size"),
        (["--validation-split", "1"], "--validation-split"),
        (["--optimizer", "rmsprop"], "rmsprop"),
        (["--grad-norm-steps", "1,x"], "comma-separated"),
        (["--model-option", "noequals"], "KEY=VALUE"),
        (["--config", "missing.yaml"], "does not exist"),
    ],
)
def test_bad_options_are_usage_errors(args, fragment):
    result = CliRunner().invoke(show, ["resnet18", *args])
    assert result.exit_code == 2
    assert fragment in result.output


def test_unknown_key_in_config_file_names_key_and_file(tmp_path):
    path = write_config(tmp_path / "typo.yaml", epoch=3)
    result = CliRunner().invoke(show, ["--config", path])
    assert result.exit_code == 2
    assert "'epoch'" in result.output and "typo.yaml" in result.output


def test_invalid_value_in_config_file_is_a_usage_error(tmp_path):
    path = write_config(tmp_path / "bad.yaml", optimizer="rmsprop")
    result = CliRunner().invoke(show, ["--config", path])
    assert result.exit_code == 2
    assert "optimizer" in result.output


def test_resolve_config_without_command_line():
    config = resolve_config(TrainingOptions(fields={"epochs": 4}), model="resnet18")
    assert config == TrainConfig(model="resnet18", epochs=4)


# -- values refused up front (exit 2) and the library checks behind them -----------


def usage_error(*args: str) -> str:
    result = CliRunner().invoke(show, list(args))
    assert result.exit_code == 2, result.output
    [line] = [x for x in result.output.splitlines() if x.startswith("Error:")]
    return line


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--width-multiplier", "nan"),
        ("--width-multiplier", "inf"),
        ("--learning-rate", "nan"),
        ("--momentum", "inf"),
        ("--label-smoothing", "nan"),
        ("--validation-split", "nan"),
        ("--mixup-alpha", "-inf"),
    ],
)
def test_non_finite_numbers_are_usage_errors(option, value):
    line = usage_error("resnet18", option, value)
    assert line.startswith(f"Error: Invalid value for '{option}'")
    assert value in line


def test_width_multiplier_above_the_maximum_is_a_usage_error():
    from keras_resnet.models.catalog import MAX_WIDTH_MULTIPLIER

    assert MAX_WIDTH_MULTIPLIER == 16
    assert resolved("resnet18", "--width-multiplier", "16")["width_multiplier"] == 16
    line = usage_error("resnet18", "--width-multiplier", "1000")
    assert line == (
        "Error: Invalid value for '--width-multiplier': must be at most 16 "
        "(parameters grow with its square; resnet18 at 16 has 2.9G parameters)."
    )


def test_unknown_model_option_is_a_usage_error_naming_model_and_option():
    line = usage_error("mini_resnet", "--model-option", "nosuchkw=3")
    assert line.startswith(
        "Error: Invalid value for '--model-option': Model 'mini_resnet' has no "
        "argument 'nosuchkw'; it accepts: "
    )
    assert "blocks_per_stage" in line
    options = resolved("mini_resnet", "--model-option", "blocks_per_stage=1")
    assert options["model_options"] == {"blocks_per_stage": 1}


def test_build_model_refuses_an_unknown_keyword_before_building():
    from keras_resnet.models import build_model

    with pytest.raises(ValueError) as caught:
        build_model("resnet18", nosuchkw=3)
    message = str(caught.value)
    assert message.startswith("Model 'resnet18' has no argument 'nosuchkw';")
    assert message.endswith("Received: nosuchkw=3")


@pytest.mark.parametrize(
    ("value", "ending"),
    [
        (float("nan"), "must be a positive finite number. Received: "
         "width_multiplier=nan"),
        (float("inf"), "must be a positive finite number. Received: "
         "width_multiplier=inf"),
        (0, "must be a positive finite number. Received: width_multiplier=0"),
        (1000, "must be at most 16 (parameters grow with its square; resnet18 at "
         "16 has 2.9G parameters). Received: width_multiplier=1000"),
    ],
)  # fmt: skip
def test_builders_refuse_bad_width_multipliers(value, ending):
    from keras_resnet.models import build_model

    for name in ("resnet18", "baseline_cnn"):
        with pytest.raises(ValueError) as caught:
            build_model(name, width_multiplier=value)
        assert str(caught.value) == f"width_multiplier {ending}"

"""``normalization="batch" | "none"`` on every registered builder."""

import keras
import numpy as np
import pytest
from model_archs import ARCHS, build_arch

import keras_resnet
from keras_resnet.models import count_trainable_params
from keras_resnet.models.blocks import NORMALIZATIONS
from keras_resnet.models.summary import iter_layers

ALL = keras_resnet.list_models()
TINY = {"width_multiplier": 0.125}


def _weighted_names(model: keras.Model) -> list[str]:
    return [
        layer.name
        for layer in iter_layers(model)
        if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense)
    ]


@pytest.mark.parametrize("arch", ARCHS)
def test_none_has_no_batch_norm_and_keeps_every_weighted_layer_name(arch, arch_model):
    # Normalization is the blocks' business: once per kind of body.
    plain = build_arch(arch, normalization="none")
    batch = arch_model(arch)  # the default, "batch" (see the test below)

    classes = {type(layer).__name__ for layer in iter_layers(plain)}
    assert not any("Normalization" in cls for cls in classes), classes
    assert any(
        "BatchNormalization" in type(layer).__name__ for layer in iter_layers(batch)
    )
    # Conv and dense layers join by name between the two variants.
    assert _weighted_names(plain) == _weighted_names(batch)
    # Nothing normalizes a convolution's output, so each has its own bias.
    convs = [
        layer for layer in iter_layers(plain) if isinstance(layer, keras.layers.Conv2D)
    ]
    assert convs and all(layer.use_bias for layer in convs)

    # training=True, as the gradient probes call it (no BN: no other effect).
    images = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    outputs = np.asarray(plain(images, training=True))
    assert outputs.shape == (2, 10)
    assert np.isfinite(outputs).all()


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("value", ["layer", "None", "BATCH", True, 0])
def test_invalid_normalization_is_refused(name, value):
    with pytest.raises(
        ValueError,
        match=r"normalization must be one of 'batch', 'none'\. "
        rf"Received: normalization={value!r}$",
    ):
        keras_resnet.build_model(name, normalization=value, **TINY)


def test_choices_are_batch_and_none():
    assert NORMALIZATIONS == ("batch", "none")


def test_default_is_batch_and_parameter_counts(tiny_model):
    default = tiny_model("resnet18")
    explicit = keras_resnet.build_model("resnet18", normalization="batch", **TINY)
    plain = keras_resnet.build_model("resnet18", normalization="none")
    # Built at the default, resnet18 has 11,173,962 (test_builders'
    # test_exact_parameter_counts and test_catalog's full-size build).
    assert count_trainable_params(explicit) == count_trainable_params(default)
    # 20 BN layers' gamma and beta (2 x 4,800) go, 20 conv biases (4,800) come.
    assert count_trainable_params(plain) == 11_169_162
    assert [layer.name for layer in default.layers] == [
        layer.name for layer in explicit.layers
    ]


def test_none_matches_batch_norm_false_in_baseline_cnn():
    old = keras_resnet.build_model("baseline_cnn", batch_norm=False, **TINY)
    new = keras_resnet.build_model("baseline_cnn", normalization="none", **TINY)
    assert [layer.name for layer in old.layers] == [layer.name for layer in new.layers]
    assert count_trainable_params(old) == count_trainable_params(new)


@pytest.mark.parametrize("use_skip", [True, False])
def test_skip_and_noskip_share_initializers_without_batch_norm(use_skip):
    """The shortcut is the only difference between the two ablation arms."""
    model = keras_resnet.build_model(
        "mini_resnet", normalization="none", use_skip=use_skip, **TINY
    )
    for layer in iter_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            config = layer.get_config()
            assert config["kernel_initializer"]["class_name"] == "HeNormal"
            assert config["bias_initializer"]["class_name"] == "Zeros"

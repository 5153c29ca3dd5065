"""The residual family's blocks: grouped convs, pre-activation order, dense
concatenation and transitions, Wide ResNet dropout, and the no-skip switch."""

import keras
import numpy as np
import pytest
from model_archs import SKIP_ARCHS, build_arch

import keras_resnet
from keras_resnet.models import (
    blocks,
    count_depth,
    count_trainable_params,
    get_model_info,
    wide_resnet,
)

TINY = {"width_multiplier": 0.125}


def _producers(model):
    """Layer name -> names of the layers whose outputs it consumes, in order."""

    def walk(value):
        if isinstance(value, dict):
            history = value.get("config", {}).get("keras_history")
            if value.get("class_name") == "__keras_tensor__" and history:
                return [history[0]]
            return [n for v in value.values() for n in walk(v)]
        if isinstance(value, list | tuple):
            return [n for v in value for n in walk(v)]
        return []

    return {
        layer["name"]: walk(layer["inbound_nodes"])
        for layer in model.get_config()["layers"]
    }


def test_resnext_convs_are_grouped(tiny_model):
    model = tiny_model("resnext29_2x64d")
    grouped = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D) and layer.groups > 1
    ]
    # Exactly the 3x3 convolution of each of the 9 blocks, with 2 groups.
    assert sorted(layer.name for layer in grouped) == sorted(
        f"stage{s}_block{b}_conv2" for s in (1, 2, 3) for b in (1, 2, 3)
    )
    for layer in grouped:
        assert layer.groups == 2
        # The kernel sees only its group's half of the input channels.
        assert layer.kernel.shape == (3, 3, layer.filters // 2, layer.filters)
    # Expansion 2: each block outputs twice its grouped width.
    conv2 = model.get_layer("stage3_block1_conv2")
    assert model.get_layer("stage3_block1_conv3").filters == 2 * conv2.filters
    assert tuple(conv2.strides) == (2, 2)
    assert model.get_layer("stem_conv").kernel.shape[:2] == (1, 1)


def test_resnext_width_multiplier_keeps_groups_divisible():
    # 128 x 0.1 = 12.8 would round to 13, which 2 groups cannot split.
    model = keras_resnet.build_model("resnext29_2x64d", width_multiplier=0.1)
    assert model.get_layer("stage1_block1_conv2").filters == 12
    assert blocks.scaled(128, 0.1, divisor=2) == 12
    assert blocks.scaled(128, 0.001, divisor=2) == 2


def test_preact_ordering_and_projection(tiny_model):
    model = tiny_model("preact_resnet18")
    inputs = _producers(model)
    # Bare stem: no BN or ReLU before the first block normalizes.
    assert inputs["stage1_block1_bn1"] == ["stem_conv"]
    assert "stem_bn" not in inputs
    # BN -> ReLU -> conv, twice.
    assert inputs["stage1_block1_relu1"] == ["stage1_block1_bn1"]
    assert inputs["stage1_block1_conv1"] == ["stage1_block1_relu1"]
    assert inputs["stage1_block1_bn2"] == ["stage1_block1_conv1"]
    assert inputs["stage1_block1_conv2"] == ["stage1_block1_relu2"]
    # Identity from the raw block input; nothing after the add.
    assert inputs["stage1_block1_add"] == ["stem_conv", "stage1_block1_conv2"]
    assert inputs["stage1_block2_bn1"] == ["stage1_block1_add"]
    # Where the shape changes, the 1x1 projection (no BN) sees the
    # pre-activated input that the residual branch also uses.
    assert inputs["stage2_block1_shortcut_conv"] == ["stage2_block1_relu1"]
    assert not any(name.endswith("shortcut_bn") for name in inputs)
    # No BN-ReLU after the last block: pooling reads the last add.
    assert inputs["avg_pool"] == ["stage4_block2_add"]


def test_wide_resnet_post_activation_and_dropout():
    model = wide_resnet(depth=10, widen_factor=2, dropout=0.3, width_multiplier=0.25)
    assert model.name == "wide_resnet10_2"
    inputs = _producers(model)
    dropouts = [
        layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)
    ]
    assert sorted(layer.name for layer in dropouts) == [
        "stage1_block1_dropout",
        "stage2_block1_dropout",
        "stage3_block1_dropout",
    ]
    assert all(layer.rate == 0.3 for layer in dropouts)
    # Between the two convolutions (Zagoruyko & Komodakis, Fig. 1d).
    assert inputs["stage1_block1_dropout"] == ["stage1_block1_conv1"]
    assert inputs["stage1_block1_bn2"] == ["stage1_block1_dropout"]
    # 16 -> 32 filters at stride 1 still needs a projection.
    assert "stage1_block1_shortcut_conv" in inputs
    assert inputs["post_bn"] == ["stage3_block1_add"]
    assert inputs["avg_pool"] == ["post_relu"]
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype="float32")
    np.testing.assert_array_equal(model(x), model(x))  # inference: no dropout
    assert not np.allclose(model(x, training=True), model(x, training=True))


def test_wide_resnet_without_dropout_has_no_dropout_layer(tiny_model):
    model = tiny_model("wide_resnet16_4")
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)


def test_wide_resnet_generic_builder_matches_registered(tiny_model):
    # The registered count (2,748,890 at full width) is pinned by
    # test_builders.test_exact_parameter_counts; equal names and counts here
    # make the generic builder that same network.
    model = wide_resnet(depth=16, widen_factor=4, **TINY)
    plain = tiny_model("wide_resnet16_4")
    assert model.name == "wide_resnet16_4"
    assert [layer.name for layer in model.layers] == [
        layer.name for layer in plain.layers
    ]
    assert count_trainable_params(model) == count_trainable_params(plain)
    assert model.get_layer("stage3_block2_conv2").filters == 256 // 8
    # Dropout adds no parameters.
    with_dropout = keras_resnet.build_model("wide_resnet16_4", dropout=0.3, **TINY)
    assert count_trainable_params(with_dropout) == count_trainable_params(plain)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"depth": 27}, "depth"),
        ({"depth": 4}, "depth"),
        ({"depth": 16.0}, "depth"),
        ({"widen_factor": 0}, "widen_factor"),
        ({"widen_factor": 2.5}, "widen_factor"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"dropout": "0.3"}, "dropout"),
    ],
)
def test_wide_resnet_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=f"Received: {match}="):
        wide_resnet(**kwargs)


def test_densenet_concatenation_and_transitions(tiny_model):
    model = tiny_model("densenet121")
    inputs = _producers(model)
    growth = 4  # 32 x 0.125
    assert model.get_layer("stem_conv").filters == 2 * growth
    assert inputs["stage1_block1_bn1"] == ["stem_conv"]
    # Each layer appends growth channels after its input channels.
    assert inputs["stage1_block2_concat"] == [
        "stage1_block1_concat",
        "stage1_block2_conv2",
    ]
    assert model.get_layer("stage1_block1_conv1").filters == 4 * growth
    for index in range(1, 7):
        concat = model.get_layer(f"stage1_block{index}_concat")
        assert concat.output.shape[-1] == 2 * growth + index * growth
    # Compression 0.5 (rounded down) and 2x2 average pooling.
    channels_in = {1: 8 + 6 * 4, 2: 16 + 12 * 4, 3: 32 + 24 * 4}
    for index, channels in channels_in.items():
        conv = model.get_layer(f"transition{index}_conv")
        assert conv.filters == channels // 2
        pool = model.get_layer(f"transition{index}_pool")
        assert pool.output.shape[1] == conv.output.shape[1] // 2
    assert model.get_layer("stage4_block16_concat").output.shape[1:] == (4, 4, 128)
    assert inputs["avg_pool"] == ["post_relu"]
    assert not any(isinstance(layer, keras.layers.Add) for layer in model.layers)


def test_densenet_has_no_skip_switch():
    assert not get_model_info("densenet121").has_skip
    with pytest.raises(ValueError, match="Received: use_skip=False"):
        keras_resnet.build_model("densenet121", use_skip=False)


def test_resnet50_bottleneck_layout(tiny_model):
    model = tiny_model("resnet50")
    assert model.get_layer("stage2_block1_conv3").filters == 4 * 16
    assert tuple(model.get_layer("stage2_block1_conv2").strides) == (2, 2)
    assert tuple(model.get_layer("stage2_block1_conv1").strides) == (1, 1)
    # Stage 1 widens 8 -> 32 at stride 1, so it too starts with a projection.
    assert "stage1_block1_shortcut_conv" in _producers(model)
    assert count_depth(model) == 50


@pytest.mark.parametrize("arch", SKIP_ARCHS)
def test_no_skip_removes_only_shortcuts(arch, arch_model):
    # Shortcuts are the blocks' business: once per kind of body with them.
    skip = arch_model(arch)
    noskip = build_arch(arch, use_skip=False)
    skip_names = {layer.name for layer in skip.layers}
    noskip_names = {layer.name for layer in noskip.layers}
    assert not any(isinstance(layer, keras.layers.Add) for layer in noskip.layers)
    assert any(isinstance(layer, keras.layers.Add) for layer in skip.layers)
    assert noskip_names < skip_names
    extra = skip_names - noskip_names
    assert all("_shortcut_" in n or n.endswith("_add") for n in extra)
    for layer in noskip.layers:
        assert [w.shape for w in layer.weights] == [
            w.shape for w in skip.get_layer(layer.name).weights
        ]
    assert count_depth(noskip) == count_depth(skip)

"""Registry-wide builder tests: shapes, counts, names, serialization, errors."""

import pathlib
import re

import keras
import numpy as np
import pytest
from model_archs import ARCHS, SKIP_ARCHS, build_arch

import keras_resnet
from keras_resnet.models import (
    count_depth,
    get_model_info,
    register_model,
)
from keras_resnet.models.catalog import CATALOG
from keras_resnet.models.layers import onednn_enabled
from keras_resnet.models.resnet import BLOCK_TYPES

ALL = keras_resnet.list_models()
TINY = {"width_multiplier": 0.125}
DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "models.md"
STUDY_MODELS = {"baseline_cnn", "mini_resnet", "resnet18", "resnet18_noskip"}

# Trainable parameters with 10 classes: the counts of the widely used PyTorch
# CIFAR implementations (BN moving statistics excluded).
EXPECTED_PARAMS = {
    "resnet18": 11_173_962,
    "resnet18_noskip": 11_000_138,
    "baseline_cnn": 14_728_266,
    "mini_resnet": 272_474,
    "resnet34": 21_282_122,
    "resnet50": 23_520_842,
    "preact_resnet18": 11_171_146,
    "wide_resnet28_10": 36_479_194,
    "wide_resnet16_4": 2_748_890,
    "resnext29_2x64d": 9_128_778,
    "densenet121": 6_956_298,
}
# FLOPs per 32x32 image (2 x multiply-accumulates of conv and dense layers)
# and depth (count_depth: main-path convolutions plus the classifier).
EXPECTED_FLOPS = {
    "resnet18": 1_110_845_440,
    "resnet18_noskip": 1_098_262_528,
    "baseline_cnn": 626_403_328,
    "mini_resnet": 81_626_368,
    "resnet34": 2_318_804_992,
    "resnet50": 2_595_659_776,
    "preact_resnet18": 1_110_845_440,
    "wide_resnet28_10": 10_486_657_536,
    "wide_resnet16_4": 785_224_704,
    "resnext29_2x64d": 2_818_985_984,
    "densenet121": 1_776_701_440,
}
EXPECTED_DEPTH = {
    "resnet18": 18,
    "resnet18_noskip": 18,
    "baseline_cnn": 14,
    "mini_resnet": 20,
    "resnet34": 34,
    "resnet50": 50,
    "preact_resnet18": 18,
    "wide_resnet28_10": 26,
    "wide_resnet16_4": 14,
    "resnext29_2x64d": 29,
    "densenet121": 121,
}


def test_study_models_registered():
    assert STUDY_MODELS <= set(ALL)
    assert ALL == sorted(ALL)


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_exact_parameter_counts(name):
    # CATALOG holds count_trainable_params, count_flops and count_depth of
    # each model built at full size: test_catalog builds every model once and
    # compares, so these are the built models' counts.
    entry = CATALOG[name]
    assert entry.params == EXPECTED_PARAMS[name]
    assert entry.flops == EXPECTED_FLOPS[name]
    assert entry.layers == EXPECTED_DEPTH[name]


def test_every_model_has_expected_counts():
    assert sorted(EXPECTED_PARAMS) == ALL
    assert sorted(EXPECTED_FLOPS) == ALL
    assert sorted(EXPECTED_DEPTH) == ALL


def test_docs_table_matches_measured_counts():
    rows = {}
    for line in DOCS.read_text().splitlines():
        match = re.match(r"\| `(\w+)` \| ([\d,]+) \| ([\d,]+) \| (\d+) \|", line)
        if match:
            name, params, flops, depth = match.groups()
            rows[name] = (
                int(params.replace(",", "")),
                int(flops.replace(",", "")),
                int(depth),
            )
    assert sorted(rows) == ALL
    for name, row in rows.items():
        assert row == (
            EXPECTED_PARAMS[name],
            EXPECTED_FLOPS[name],
            EXPECTED_DEPTH[name],
        ), name


def test_archs_cover_every_family():
    # The family-generic tests below run once per kind of body (ARCHS): each
    # family of the registry, and in the resnet family each block type
    # (basic, bottleneck) and the no-skip variant.
    families = {get_model_info(name).family for name in ALL}
    assert {family for family, _ in ARCHS.values()} == families
    assert set(BLOCK_TYPES) == {"basic", "bottleneck", "preact"}
    assert {"mini_resnet", "resnet50_1111", "preact_resnet18"} <= set(SKIP_ARCHS)
    assert "resnet18_noskip" in ARCHS


def test_output_shape_with_top_and_input_tensor():
    # The head and the input are assemble's, the same for every body.
    inputs = keras.Input((32, 32, 3), name="pixels")
    model = build_arch("mini_resnet", num_classes=7, input_tensor=inputs)
    assert model.inputs[0] is inputs
    # A list, as the model's inputs are (keras.Input made them a list).
    out = model([np.zeros((2, 32, 32, 3), "float32")])
    assert tuple(out.shape) == (2, 7)
    np.testing.assert_allclose(np.asarray(out).sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    "arch,pooling",
    # Every body's feature map; the two poolings of the shared head once.
    [(arch, None) for arch in ARCHS] + [("mini_resnet", "avg"), ("mini_resnet", "max")],
)
def test_output_shape_without_top(arch, pooling):
    model = build_arch(arch, include_top=False, pooling=pooling)
    out = model(np.zeros((2, 32, 32, 3), "float32"))
    if pooling is None:
        assert len(out.shape) == 4 and out.shape[0] == 2
    else:
        assert len(out.shape) == 2 and out.shape[0] == 2
    assert not any(layer.name == "fc" for layer in model.layers)


@pytest.mark.parametrize("arch", ARCHS)
def test_larger_input_logits_and_one_training_step(arch):
    # build_model drops None kwargs, so logits are asked for as "linear" there;
    # the builder itself takes None (test_builder_takes_none_for_logits).
    model = build_arch(
        arch, input_shape=(64, 48, 3), classifier_activation="linear", num_classes=3
    )
    rng = np.random.default_rng(0)
    x = rng.random((4, 64, 48, 3), dtype="float32")
    out = np.asarray(model(x))
    assert out.shape == (4, 3)
    assert not np.allclose(out.sum(axis=1), 1.0)  # logits, not probabilities
    # Eager: one step checks that gradients reach the weights, without the
    # graph tracing that costs seconds per model (the traced step is covered
    # by test_traced_training_step).
    model.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        run_eagerly=True,
    )
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, rng.integers(0, 3, size=(4,)))
    assert np.isfinite(loss)
    changed = [
        not np.array_equal(a, b)
        for a, b in zip(before, model.get_weights(), strict=True)
    ]
    assert any(changed)


def test_input_tensor_after_preprocessing_uses_source_input():
    inputs = keras.Input((32, 32, 3), name="raw")
    x = keras.layers.Rescaling(1 / 255.0, name="rescale")(inputs)
    model = keras_resnet.build_model("resnet18", input_tensor=x, **TINY)
    assert model.inputs[0] is inputs
    assert model.get_layer("rescale") is not None


def test_noskip_has_no_add_and_shares_names(tiny_model):
    skip = tiny_model("resnet18")
    noskip = tiny_model("resnet18_noskip")
    skip_names = {layer.name for layer in skip.layers}
    noskip_names = {layer.name for layer in noskip.layers}
    assert not any(isinstance(layer, keras.layers.Add) for layer in noskip.layers)
    assert noskip_names < skip_names
    extra = skip_names - noskip_names
    assert extra and all("shortcut" in n or n.endswith("_add") for n in extra)
    assert sum(isinstance(layer, keras.layers.Add) for layer in skip.layers) == 8
    # Shared layers have identical weight shapes, so measurements join by name.
    for layer in noskip.layers:
        assert [w.shape for w in layer.weights] == [
            w.shape for w in skip.get_layer(layer.name).weights
        ]


def test_projection_only_where_shape_changes(tiny_model):
    model = tiny_model("resnet18")
    projections = sorted(
        layer.name for layer in model.layers if layer.name.endswith("_shortcut_conv")
    )
    assert projections == [
        "stage2_block1_shortcut_conv",
        "stage3_block1_shortcut_conv",
        "stage4_block1_shortcut_conv",
    ]
    # Only the first block of a stage strides.
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and "block2" in layer.name:
            assert tuple(layer.strides) == (1, 1)


@pytest.mark.parametrize("blocks,depth", [(1, 8), (3, 20), (5, 32)])
def test_mini_resnet_depths(blocks, depth, tiny_model):
    model = tiny_model("mini_resnet", blocks_per_stage=blocks)
    assert count_depth(model) == depth


def test_baseline_cnn_batch_norm_switch(tiny_model):
    with_bn = tiny_model("baseline_cnn")
    without = keras_resnet.build_model("baseline_cnn", batch_norm=False, **TINY)
    bn = [
        layer
        for layer in with_bn.layers
        if "BatchNormalization" in type(layer).__name__
    ]
    assert len(bn) == 13
    assert not any("_bn" in layer.name for layer in without.layers)
    assert count_depth(with_bn) == 14


def test_width_multiplier_scales_filters():
    model = keras_resnet.build_model("resnet18", width_multiplier=0.25)
    assert model.get_layer("stem_conv").filters == 16
    assert model.get_layer("stage4_block2_conv2").filters == 128


@pytest.mark.parametrize("arch", ARCHS)
def test_keras_and_config_round_trip_is_exact(arch, tmp_path, arch_model):
    # A .keras file holds get_config(); load_model rebuilds the model with
    # from_config and loads the weights: both round trips in one.
    model = arch_model(arch)
    x = np.random.default_rng(0).random((3, 32, 32, 3), dtype="float32")
    expected = np.asarray(model(x, training=False))
    path = tmp_path / f"{arch}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(np.asarray(loaded(x, training=False)), expected)
    assert loaded.count_params() == model.count_params()
    assert [layer.name for layer in loaded.layers] == [
        layer.name for layer in model.layers
    ]


def test_weights_argument_loads_saved_weights(tmp_path, arch_model):
    source = arch_model("mini_resnet")
    path = tmp_path / "w.weights.h5"
    source.save_weights(path)
    loaded = build_arch("mini_resnet", weights=str(path))
    for a, b in zip(source.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_traced_training_step():
    model = build_arch("mini_resnet", num_classes=3)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((4, 32, 32, 3), dtype="float32")
    before = model.get_layer("stem_conv").get_weights()[0].copy()
    loss = model.train_on_batch(x, rng.integers(0, 3, size=(4,)))
    assert np.isfinite(loss)
    assert not np.array_equal(before, model.get_layer("stem_conv").get_weights()[0])


def strided_slice_layers(model):
    """Names of the layers that compute their convolution as a strided slice
    (``keras_resnet.models.layers.avoid_strided_1x1_bug``)."""
    return [
        layer.name
        for layer in model.layers
        if getattr(layer, "convolution_op", None) is not None
        and layer.convolution_op.__qualname__.startswith("_strided_slice_conv")
    ]


@pytest.mark.parametrize("name", ALL)
def test_builders_route_narrow_strided_1x1_convolutions_around_onednn(name):
    # Width 0.125 gives strided 1x1 shortcuts with 2-8 input channels: with
    # oneDNN on (TensorFlow's default on AVX-512 CPUs) plain model.fit would
    # reach oneDNN's wrong, out-of-bounds weight-gradient kernel.
    model = keras_resnet.build_model(name, **TINY)
    narrow = [
        layer.name
        for layer in model.layers
        if type(layer) is keras.layers.Conv2D
        and layer.kernel_size == (1, 1)
        and layer.strides != (1, 1)
        and layer.kernel.shape[2] < 16
    ]
    if name == "mini_resnet":
        assert narrow == ["stage2_block1_shortcut_conv", "stage3_block1_shortcut_conv"]
    assert strided_slice_layers(model) == (narrow if onednn_enabled() else [])
    for layer_name in narrow:  # the saved configuration is the builder's
        assert model.get_layer(layer_name).get_config()["strides"] != (1, 1)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"pooling": "mean"}, "pooling"),
        ({"num_classes": 0}, "num_classes"),
        ({"num_classes": 2.5}, "num_classes"),
        ({"input_shape": (16, 16, 3)}, "input_shape"),
        ({"input_shape": (32, 32)}, "input_shape"),
        ({"width_multiplier": 0}, "width_multiplier"),
        ({"width_multiplier": -1.0}, "width_multiplier"),
        ({"include_top": "yes"}, "include_top"),
        ({"classifier_activation": "nope"}, "classifier_activation"),
        ({"weights": "/no/such/file.weights.h5"}, "weights"),
        ({"input_tensor": np.zeros((1, 32, 32, 3))}, "input_tensor"),
    ],
)
@pytest.mark.parametrize("name", ALL)
def test_invalid_arguments(name, kwargs, match):
    with pytest.raises(ValueError, match=f"Received: {match}="):
        keras_resnet.build_model(name, **kwargs)


def test_mini_resnet_rejects_bad_blocks():
    with pytest.raises(ValueError, match="Received: blocks_per_stage=0"):
        keras_resnet.build_model("mini_resnet", blocks_per_stage=0)


def test_unknown_model_lists_known_names():
    with pytest.raises(ValueError, match="resnet18_noskip") as info:
        keras_resnet.build_model("resnet19")
    assert "Received: name='resnet19'" in str(info.value)


def test_duplicate_registration_raises():
    with pytest.raises(ValueError, match="already registered"):
        register_model("resnet18", description="again")(lambda **kw: None)


def test_build_model_drops_none_kwargs():
    model = keras_resnet.build_model(
        "mini_resnet", num_classes=None, pooling=None, blocks_per_stage=1, **TINY
    )
    assert model.output.shape[-1] == 10


def test_builder_takes_none_for_logits():
    from keras_resnet.models import resnet18

    model = resnet18(classifier_activation=None, **TINY)
    assert model.get_layer("predictions").get_config()["activation"] == "linear"


def test_model_info():
    info = get_model_info("resnet18")
    assert info.has_skip and info.description
    assert not get_model_info("baseline_cnn").has_skip

"""The catalog (what ``keras-resnet models`` prints without building) and the
registry's filters."""

import keras
import pytest

import keras_resnet
from keras_resnet.models import get_model_info
from keras_resnet.models.catalog import (
    CATALOG,
    closest_name,
    filter_models,
    name_depth,
)
from keras_resnet.models.registry import builder_arguments


def test_catalog_holds_every_registered_model_with_its_metadata():
    assert sorted(CATALOG) == keras_resnet.list_models()
    for name, entry in CATALOG.items():
        info = get_model_info(name)
        assert (entry.family, entry.has_skip, entry.description) == (
            info.family,
            info.has_skip,
            info.description,
        ), name
        # What the command line checks --model-option against without Keras.
        assert entry.arguments == tuple(sorted(builder_arguments(name))), name
        assert ("use_skip" in entry.options) == entry.has_skip


@pytest.mark.slow
def test_catalog_numbers_are_those_of_the_built_models(measured):
    # All models built at full width (once, shared with test_builders):
    # regenerate CATALOG if this fails.
    assert measured == CATALOG


def test_depth_is_the_number_in_the_name_where_there_is_one():
    for name, entry in CATALOG.items():
        assert entry.depth == (name_depth(name) or entry.layers), name
        if entry.family != "wide-resnet":
            assert entry.depth == entry.layers, name


@pytest.mark.parametrize("name", ["wide_resnet16_4", "wide_resnet28_10"])
def test_wide_resnet_names_count_every_convolution(name, tiny_model):
    # WRN-d-k: d convolutions, the three 1x1 shortcut projections included.
    model = tiny_model(name)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == CATALOG[name].depth
    assert sum("shortcut" in layer.name for layer in convs) == 3


def test_name_depth():
    assert name_depth("resnet18") == 18
    assert name_depth("wide_resnet28_10") == 28
    assert name_depth("resnext29_2x64d") == 29
    assert name_depth("densenet121") == 121
    assert name_depth("mini_resnet") is None


@pytest.mark.parametrize(
    "pattern, family, expected",
    [
        ("resnet*", None, ["resnet18", "resnet18_noskip", "resnet34", "resnet50"]),
        (None, "wide-resnet", ["wide_resnet16_4", "wide_resnet28_10"]),
        (["*18*", "dense*"], None, ["densenet121", "preact_resnet18", "resnet18",
                                    "resnet18_noskip"]),
        ("*18*", "resnet", ["resnet18", "resnet18_noskip"]),
        ("ResNet*", None, []),  # case-sensitive, as the names are
        ("nothing*", None, []),
    ],
)  # fmt: skip
def test_list_models_pattern_and_family(pattern, family, expected):
    assert keras_resnet.list_models(pattern, family=family) == expected
    family_of = {name: entry.family for name, entry in CATALOG.items()}
    assert filter_models(family_of, pattern, family) == expected


def test_list_models_refuses_an_unknown_family():
    with pytest.raises(ValueError, match=r"Known families: .*Received: family='vgg'"):
        keras_resnet.list_models(family="vgg")


def test_unknown_model_suggests_the_closest_name():
    assert closest_name("resnet19", CATALOG) == "resnet18"
    assert closest_name("zzz", CATALOG) is None
    with pytest.raises(ValueError, match=r"did you mean resnet18\?"):
        get_model_info("resnet19")

"""The public spec-driven builder and the shared arguments every builder takes."""

import inspect
import pathlib
import re

import keras
import pytest

import keras_resnet
from keras_resnet.models import (
    ResNetSpec,
    build_resnet,
    count_trainable_params,
    get_model_info,
    resnet18,
)
from keras_resnet.models.builder import builder, check_arguments
from keras_resnet.models.catalog import MAX_WIDTH_MULTIPLIER, check_width_multiplier

ALL = keras_resnet.list_models()
TINY = {"width_multiplier": 0.125}
SHARED = inspect.signature(check_arguments).parameters
DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "models.md"


@pytest.mark.parametrize("name", ALL)
def test_signature_lists_every_shared_argument_with_its_default(name):
    info = get_model_info(name)
    parameters = inspect.signature(info.builder).parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    assert all(p.kind is p.KEYWORD_ONLY for p in parameters.values())
    for key, shared in SHARED.items():
        if key == "name":
            assert parameters["name"].default == name
        elif key == "use_skip":
            assert ("use_skip" in parameters) == info.has_skip
        else:
            assert parameters[key].default == shared.default, key
    # help() shows the shared descriptions, once each.
    doc = info.builder.__doc__
    for key in set(parameters) & set(SHARED):
        assert len(re.findall(rf"^    {key}: ", doc, flags=re.M)) == 1, (name, key)


def test_builder_checks_and_binds_like_a_function():
    with pytest.raises(TypeError, match="nosuchkw"):
        resnet18(nosuchkw=1)
    with pytest.raises(TypeError):
        resnet18(0.5)  # keyword-only, as before
    with pytest.raises(ValueError, match=r"Received: pooling='mean'$"):
        build_resnet(ResNetSpec(8, "basic", (8,), (1,), (1,)), pooling="mean")


def test_builder_refuses_unknown_shared_names_and_a_missing_options():
    with pytest.raises(ValueError, match="Received: without=\\['skip'\\]"):
        builder(without=("skip",))
    with pytest.raises(TypeError, match="must take \\*\\*options"):
        builder()(lambda *, depth=1: None)


def test_build_resnet_of_a_named_spec_is_the_named_model():
    from keras_resnet.models.resnet import RESNET18

    named = resnet18(**TINY)
    built = build_resnet(RESNET18, name="resnet18", **TINY)
    assert [layer.name for layer in built.layers] == [
        layer.name for layer in named.layers
    ]
    assert count_trainable_params(built) == count_trainable_params(named)


def test_custom_spec_from_the_docs():
    # The example of docs/models.md, run as written.
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    (example,) = [block for block in blocks if "ResNetSpec(\n" in block]
    namespace = {}
    exec(example, namespace)
    model = namespace["model"]
    assert model.name == "resnet10" and model.output.shape[-1] == 100
    convs = [
        layer.name
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D) and "shortcut" not in layer.name
    ]
    # Stem, then one basic block (two convolutions) in each of four stages.
    assert convs == ["stem_conv"] + [
        f"stage{s}_block1_conv{c}" for s in (1, 2, 3, 4) for c in (1, 2)
    ]
    assert model.get_layer("stage4_block1_conv2").filters == 512


def test_spec_takes_lists_and_a_block_kwargs_dict():
    spec = ResNetSpec(
        16,
        "bottleneck",
        [8, 16],
        [1, 1],
        [1, 2],
        block_kwargs={"groups": 2, "expansion": 2},
    )
    assert spec.filters == (8, 16) and spec.block_kwargs == (
        ("groups", 2),
        ("expansion", 2),
    )
    hash(spec)  # frozen and made of tuples
    model = build_resnet(spec, use_skip=False)
    assert model.get_layer("stage2_block1_conv2").groups == 2
    assert not any(isinstance(layer, keras.layers.Add) for layer in model.layers)


@pytest.mark.parametrize(
    "kwargs, ending",
    [
        ({"block": "dense"}, "block must be one of basic, bottleneck, preact. "
         "Received: block='dense'"),
        ({"strides": (1, 2)}, "strides must give one entry per stage, as filters "
         "does. Received: strides=(1, 2)"),
        ({"blocks": (2, 0, 2)}, "blocks must be a positive integer. Received: "
         "blocks=0"),
        ({"filters": ()}, "filters must give one entry per stage, as filters "
         "does. Received: filters=()"),
        ({"stem_filters": 0}, "stem_filters must be a positive integer. "
         "Received: stem_filters=0"),
    ],
)  # fmt: skip
def test_spec_refuses_a_bad_layout(kwargs, ending):
    fields = {
        "stem_filters": 16,
        "block": "basic",
        "filters": (16, 32, 64),
        "blocks": (2, 2, 2),
        "strides": (1, 2, 2),
    }
    with pytest.raises(ValueError) as caught:
        ResNetSpec(**{**fields, **kwargs})
    assert str(caught.value) == ending


def test_width_multiplier_bound_is_keras_free_and_explained():
    assert MAX_WIDTH_MULTIPLIER == 16
    check_width_multiplier(16)
    with pytest.raises(ValueError) as caught:
        check_width_multiplier(16.5)
    assert str(caught.value) == (
        "width_multiplier must be at most 16 (parameters grow with its square; "
        "resnet18 at 16 has 2.9G parameters). Received: width_multiplier=16.5"
    )
    with pytest.raises(ValueError, match="Received: width_multiplier=17$"):
        keras_resnet.build_model("densenet121", width_multiplier=17)

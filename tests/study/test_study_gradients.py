"""Layer roles and the gradient-flow ratios (keras_resnet.study.gradients)."""

import math

import pytest
from study_helpers import RESNET_LAYERS

from keras_resnet.models import build_model
from keras_resnet.study import (
    GRADIENT_FLOW_KEYS,
    early_late_ratio,
    first_last_ratio,
    gradient_flow,
    layer_layout,
    layer_role,
)


@pytest.mark.parametrize(
    "name, kind, stage, block, conv, label",
    [
        ("stem_conv", "stem", None, None, None, "stem"),
        ("stage2_block1_conv1", "conv", 2, 1, 1, "s2b1c1"),
        ("stage4_block2_conv3", "conv", 4, 2, 3, "s4b2c3"),
        ("stage3_block1_shortcut_conv", "shortcut", 3, 1, None, "s3b1 sc"),
        ("stage5_conv3_conv", "conv", 5, None, 3, "s5c3"),  # baseline_cnn
        ("transition2_conv", "transition", 2, None, None, "t2"),
        ("fc", "classifier", None, None, None, "fc"),
        ("predictions", "classifier", None, None, None, "fc"),
        ("conv2d_7", "layer", None, None, None, "conv2d_7"),
    ],
)
def test_layer_role_parses_each_naming_scheme(name, kind, stage, block, conv, label):
    role = layer_role(name)
    assert (role.kind, role.stage, role.block, role.conv) == (kind, stage, block, conv)
    assert role.label == label and role.name == name
    assert role.main_path is (kind != "shortcut")


def kernel_layers(name):
    model = build_model(name, width_multiplier=0.0625, num_classes=10)
    return [
        layer.name
        for layer in model.layers
        if getattr(layer, "kernel", None) is not None
    ]


@pytest.fixture(scope="module")
def study_layers():
    names = ("resnet18", "resnet18_noskip", "baseline_cnn", "mini_resnet")
    return {name: kernel_layers(name) for name in names}


def test_registered_study_models_have_known_roles(study_layers):
    for model, layers in study_layers.items():
        roles = [layer_role(name) for name in layers]
        assert all(role.kind != "layer" for role in roles), model
        assert [role.kind for role in roles].count("classifier") == 1, model
        assert layer_layout(layers).classifier == "fc"


def test_resnet18_and_noskip_line_up_conv_for_conv(study_layers):
    skip = layer_layout(study_layers["resnet18"])
    plain = layer_layout(study_layers["resnet18_noskip"])
    assert skip.main == plain.main and len(skip.main) == 18
    assert {n: skip.positions[n] for n in skip.main} == plain.positions
    assert skip.shortcuts == [f"stage{s}_block1_shortcut_conv" for s in (2, 3, 4)]
    assert plain.shortcuts == []
    for stage in (2, 3, 4):
        conv1 = skip.positions[f"stage{stage}_block1_conv1"]
        assert skip.positions[f"stage{stage}_block1_shortcut_conv"] == conv1 + 0.5
    assert skip.labels()[:3] == ["stem", "s1b1c1", "s1b1c2"]
    assert skip.labels()[-1] == "fc" and len(skip.convs) == 17


def test_unknown_names_keep_their_recorded_order():
    layout = layer_layout(["b_conv", "a_conv", "stage1_block1_shortcut_conv", "z"])
    assert layout.main == ["b_conv", "a_conv", "z"]
    assert [layout.positions[n] for n in layout.main] == [1.0, 2.0, 3.0]
    # A shortcut without its block's convolutions: after the layer before it.
    assert layout.positions["stage1_block1_shortcut_conv"] == 2.5
    assert layout.classifier == "z"  # no classifier name: the last layer


def norms_by_depth(values):
    return dict(zip(RESNET_LAYERS, values, strict=True))


def test_ratios_exclude_shortcuts_and_use_thirds_of_the_convolutions():
    layout = layer_layout(RESNET_LAYERS)
    # Main-path convolutions: stem, s1b1c1, s1b1c2, s2b1c1, s2b1c2 (5 -> a
    # third is 1 layer); the shortcut's huge norm must not count anywhere.
    norms = norms_by_depth([1.0, 2.0, 3.0, 4.0, 1000.0, 8.0, 10.0])
    assert layout.convs == [n for n in RESNET_LAYERS if "shortcut" not in n][:-1]
    assert first_last_ratio(norms, layout) == pytest.approx(0.1)
    assert early_late_ratio(norms, layout) == pytest.approx(1.0 / 8.0)
    six = layer_layout([f"stage1_block{b}_conv1" for b in range(1, 7)] + ["fc"])
    values = {name: float(i) for i, name in enumerate(six.main, start=1)}
    # A third of six convolutions is two: (1 + 2) / 2 over (5 + 6) / 2.
    assert early_late_ratio(values, six) == pytest.approx(3.0 / 11.0)
    assert math.isnan(early_late_ratio(values, layer_layout(["stem_conv", "fc"])))
    assert math.isnan(first_last_ratio({**norms, "fc": 0.0}, layout))
    assert math.isnan(first_last_ratio({"fc": 1.0}, layout))


def new_schema_norms():
    return {
        "layers": RESNET_LAYERS,
        "probe": {"size": 30, "seed": 0, "class_counts": [3] * 10},
        # Out of order on purpose: readers sort by (epoch, step) and epoch.
        "records": [
            {"epoch": 2, "step": 0, "norms": norms_by_depth([2, 1, 1, 1, 9, 1, 4])},
            {"epoch": 0, "step": 0, "norms": norms_by_depth([1, 1, 1, 1, 9, 2, 10])},
            {"epoch": 0, "step": 2, "norms": norms_by_depth([5] * 7)},
        ],
        "train": [
            {
                "epoch": 2,
                "steps": 4,
                "mean": norms_by_depth([3, 1, 1, 1, 9, 6, 3]),
                "max": norms_by_depth([9] * 7),
            },
            {
                "epoch": 1,
                "steps": 4,
                "mean": norms_by_depth([1, 1, 1, 1, 9, 4, 5]),
                "max": norms_by_depth([9] * 7),
            },
        ],
    }


def test_gradient_flow_reads_probe_records_and_training_means():
    flow = gradient_flow(new_schema_norms())
    assert list(flow) == list(GRADIENT_FLOW_KEYS)
    assert flow == pytest.approx(
        {
            "grad_first_last_probe_first_record": 1 / 10,
            "grad_first_last_probe_final_record": 2 / 4,
            "grad_early_late_probe_first_record": 1 / 2,
            "grad_early_late_probe_final_record": 2 / 1,
            "grad_first_last_train_first_epoch": 1 / 5,
            "grad_first_last_train_final_epoch": 3 / 3,
            "grad_early_late_train_first_epoch": 1 / 4,
            "grad_early_late_train_final_epoch": 3 / 6,
        }
    )


def test_gradient_flow_of_old_files_has_no_training_ratios():
    old = new_schema_norms()
    del old["probe"], old["train"], old["layers"]  # oldest: layers from norms
    flow = gradient_flow(old)
    assert flow["grad_first_last_probe_first_record"] == pytest.approx(0.1)
    train = [v for k, v in flow.items() if "_train_" in k]
    assert len(train) == 4 and all(math.isnan(v) for v in train)
    assert all(math.isnan(v) for v in gradient_flow(None).values())
    assert all(math.isnan(v) for v in gradient_flow({"records": []}).values())

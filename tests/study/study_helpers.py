"""Helpers for the study tests: fake run directories and figure checks."""

import json
import math
import pathlib
import xml.etree.ElementTree as ET

import numpy as np
import yaml
from PIL import Image

LAYERS = ["stem_conv", "stage1_block1_conv1", "stage2_block1_conv1", "predictions"]
# A ResNet-like model: the shortcut sits between its block's convolutions,
# as in the recorded order of the real models.
RESNET_LAYERS = [
    "stem_conv",
    "stage1_block1_conv1",
    "stage1_block1_conv2",
    "stage2_block1_conv1",
    "stage2_block1_shortcut_conv",
    "stage2_block1_conv2",
    "fc",
]
LIGHT_FILES = {
    "config.yaml",
    "history.csv",
    "history.json",
    "metrics.json",
    "gradient_norms.json",
    "dataset.json",
}


def write_fake_run(
    run_dir,
    model,
    *,
    epochs=3,
    completed=True,
    seed=0,
    layers=LAYERS,
    train=False,
    model_options=None,
):
    """A run directory with every file the study reads, values made up.

    ``model_options`` go to its ``config.yaml`` (none: the key is absent).

    Layer ``d`` of ``layers`` has probe norm ``decay ** (len - 1 - d) *
    (1 + epoch)`` (decay 0.01 for no-skip models, else 0.5). With ``train``,
    the file has the new schema: a ``probe`` description and one ``train``
    entry per epoch with mean = probe-like norm * epoch and max = 2 * mean.
    """
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    speed = 1.0 + 0.3 * seed + (0.5 if "noskip" in model else 0.0)
    accuracy = [1 - 0.8 * math.exp(-e / speed) for e in range(1, epochs + 1)]
    history = {
        "epoch": list(range(1, epochs + 1)),
        "loss": [2.0 / e for e in range(1, epochs + 1)],
        "accuracy": accuracy,
        "val_loss": [2.2 / e for e in range(1, epochs + 1)],
        "val_accuracy": [a - 0.05 for a in accuracy],
        "learning_rate": [0.1] * epochs,
        "epoch_time": [1.5] * epochs,
    }
    (run_dir / "history.json").write_text(json.dumps(history))
    decay = 0.01 if "noskip" in model else 0.5
    records = [
        {
            "epoch": epoch,
            "step": step,
            "norms": fake_norms(layers, decay, 1 + epoch),
        }
        for epoch, step in [(0, 0), (0, 2)] + [(e, 0) for e in range(1, epochs + 1)]
    ]
    norms = {"layers": list(layers), "records": records}
    if train:
        norms["probe"] = {"size": 40, "seed": seed, "class_counts": [4] * 10}
        norms["train"] = [
            {
                "epoch": epoch,
                "steps": 6,
                "mean": fake_norms(layers, decay, epoch),
                "max": fake_norms(layers, decay, 2 * epoch),
            }
            for epoch in range(1, epochs + 1)
        ]
    (run_dir / "gradient_norms.json").write_text(json.dumps(norms))
    (run_dir / "dataset.json").write_text(
        json.dumps(
            {
                "name": "synthetic",
                "train_size": 180,
                "validation_size": 20,
                "test_size": 50,
                "num_classes": 10,
            }
        )
    )
    config = {"model": model, "epochs": epochs, "seed": 0}
    if model_options:
        config["model_options"] = dict(model_options)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    best = max(range(epochs), key=lambda i: history["val_accuracy"][i])
    metrics = {
        "model": model,
        "test_accuracy": accuracy[-1] - 0.06,
        "test_loss": 0.5,
        "per_class_accuracy": {},
        "trainable_params": 1000 + len(model),
        "flops": 2_000_000,
        "epochs": epochs,
        "total_seconds": 1.5 * epochs,
        "seconds_per_epoch": 1.5,
        "best_epoch": best + 1,
        "best_val_accuracy": history["val_accuracy"][best],
        "final_train_loss": history["loss"][-1],
        "completed": completed,
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    (run_dir / "history.csv").write_text("epoch,loss\n1,2.0\n")
    return run_dir


def fake_norms(layers, decay, scale):
    """``decay ** (len(layers) - 1 - depth) * scale`` per layer."""
    return {
        name: (decay ** (len(layers) - 1 - depth)) * scale
        for depth, name in enumerate(layers)
    }


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURE_STEMS = {
    "fig1_training_curves",
    "fig2_validation_curves",
    "fig3_gradient_norms",
    "fig3_gradient_heatmaps",
    "fig4_training_resnet18",
    "fig5_validation_resnet18",
    "fig6_error_curves",
}


TRAINING_FIGURE = "fig3_training_gradient_norms"


def check_figure_files(paths, *, training=False, formats=("png",)):
    """Every stem exists once per format: a real PNG with content, a
    parsable SVG, a PDF.

    With ``training``, the training-gradient figure is expected too.
    """
    paths = [pathlib.Path(p) for p in paths]
    stems = FIGURE_STEMS | ({TRAINING_FIGURE} if training else set())
    assert {p.stem for p in paths} == stems
    assert sorted(p.suffix for p in paths) == sorted(
        f".{fmt}" for fmt in formats for _ in stems
    )
    for path in paths:
        assert path.is_file(), path
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == PNG_SIGNATURE
            assert path.stat().st_size > 10_000, path
            pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
            assert pixels.shape[0] > 300 and pixels.shape[1] > 300
            assert pixels.std() > 5.0, path  # not a blank canvas
        elif path.suffix == ".svg":
            root = ET.parse(path).getroot()
            assert root.tag.endswith("svg")
            assert path.stat().st_size > 10_000, path
        else:
            assert path.read_bytes()[:5] == b"%PDF-", path
            assert path.stat().st_size > 5_000, path

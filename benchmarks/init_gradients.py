"""Per-layer gradient norms at initialization, with and without batch norm.

For each network of the study (ResNet-18 with and without shortcuts, the
VGG-16-style baseline, and He et al.'s 56-layer CIFAR net with and without
shortcuts), built with ``normalization="batch"`` and ``"none"`` from one
seed, computes the L2 norm of the gradient of the mean cross-entropy with
respect to every conv and dense kernel, over a fixed class-balanced probe
drawn from the training split with a seeded generator (equal count per
class, the remainder spread over randomly chosen classes; never the first N
images in file order).

The probe is fed in chunks of ``--batch-size`` (BN in training mode uses
each chunk's statistics, as a training step of that batch size would) and
the chunk gradients are summed with weights ``chunk size / probe size``: the
gradient of the mean loss over the whole probe.

Writes ``init_gradients.json`` (every norm, the first/last ratios, probe,
machine and date) and ``init_gradients.png`` (first-to-last profile: x the
relative depth of each main-path conv/dense layer, y its gradient norm over
the classifier's, one panel per family, BN solid, no BN dashed; shortcut
projections drawn as open markers at the depth of their block's first conv;
a second row shows the norms themselves, which the ratio hides).

Usage::

    python benchmarks/init_gradients.py --dataset ../shared/data/cifar10-jpeg
    python benchmarks/init_gradients.py                 # synthetic images
    python benchmarks/init_gradients.py --quick --out-dir /tmp/x   # harness check
    python benchmarks/init_gradients.py --replot      # figure from the JSON
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import _common  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
NORMALIZATIONS = ("batch", "none")
# name -> (registered builder, builder options, family panel)
MODELS = {
    "resnet18": ("resnet18", {}, "ResNet-18"),
    "resnet18_noskip": ("resnet18_noskip", {}, "ResNet-18"),
    "baseline_cnn": ("baseline_cnn", {}, "VGG-16-style baseline_cnn"),
    "mini_resnet56": ("mini_resnet", {"blocks_per_stage": 9}, "56-layer CIFAR net"),
    "mini_resnet56_noskip": (
        "mini_resnet",
        {"blocks_per_stage": 9, "use_skip": False},
        "56-layer CIFAR net",
    ),
}
FAMILIES = ("ResNet-18", "VGG-16-style baseline_cnn", "56-layer CIFAR net")
COLOURS = {
    "resnet18": "tab:blue",
    "resnet18_noskip": "tab:red",
    "baseline_cnn": "tab:purple",
    "mini_resnet56": "tab:green",
    "mini_resnet56_noskip": "tab:orange",
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dataset",
        default="synthetic",
        help="'synthetic' or a dataset path the package reads (image folders, "
        ".tar.gz, CIFAR archives, .npz); the probe comes from its training split",
    )
    parser.add_argument("--probe-size", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--width-multiplier", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out-dir",
        type=pathlib.Path,
        default=ROOT / "docs" / "img",
        help="where init_gradients.png and init_gradients.json go",
    )
    parser.add_argument(
        "--replot",
        action="store_true",
        help="only redraw init_gradients.png from the init_gradients.json in "
        "--out-dir (no measurement)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="width 0.125, a probe of 64 images in one chunk: checks the harness",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.width_multiplier, args.probe_size, args.batch_size = 0.125, 64, 64
    for option in ("probe_size", "batch_size"):
        if getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be >= 1")
    if not 0 < args.width_multiplier <= 16:
        parser.error("--width-multiplier must be in (0, 16]")
    return args


def balanced_indices(labels, size: int, seed: int):
    """``size`` indices of ``labels``, an equal count per class (remainder
    spread over randomly chosen classes), drawn without replacement, shuffled.

    Raises:
        ValueError: If a class has fewer examples than its share.
    """
    import numpy as np

    rng = np.random.default_rng([seed, 0x9A0BE])
    classes = np.unique(labels)
    counts = np.full(len(classes), size // len(classes))
    counts[rng.choice(len(classes), size % len(classes), replace=False)] += 1
    chosen = []
    for label, count in zip(classes, counts, strict=True):
        members = np.flatnonzero(labels == label)
        if count > len(members):
            raise ValueError(
                f"class {int(label)} has {len(members)} training examples, fewer "
                f"than its share of the probe. Received: probe_size={size}"
            )
        chosen.append(rng.choice(members, count, replace=False))
    return rng.permutation(np.concatenate(chosen))


def load_probe(dataset: str, size: int, seed: int):
    """Standardized float32 probe images, int labels and the class counts.

    Pixels are divided by 255 and standardized per channel with the mean and
    standard deviation of the whole training split (the builders take raw
    inputs; the training pipeline normalizes the same way).
    """
    import numpy as np

    from keras_resnet.data.sources import read_source
    from keras_resnet.data.splits import channel_stats

    raw = read_source(dataset, seed=seed, data_dir=None)
    picked = balanced_indices(raw.y_train, size, seed)
    mean, std = channel_stats(raw.x_train)
    images = (raw.x_train[picked].astype("float32") - mean) / np.asarray(std)
    labels = raw.y_train[picked].astype("int64")
    counts = np.bincount(labels, minlength=len(raw.class_names))
    return images.astype("float32"), labels, [int(c) for c in counts], raw.name


def kernel_norms(model, images, labels, batch_size: int) -> tuple[dict, float]:
    """Per-layer kernel-gradient L2 norms of the mean loss over the probe."""
    import keras
    import tensorflow as tf

    from keras_resnet.models.summary import iter_layers

    layers = [
        layer
        for layer in iter_layers(model)
        if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense)
    ]
    kernels = [layer.kernel for layer in layers]
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    total = len(labels)
    sums = [tf.zeros(kernel.shape) for kernel in kernels]
    loss_sum = 0.0
    for start in range(0, total, batch_size):
        x = tf.constant(images[start : start + batch_size])
        y = tf.constant(labels[start : start + batch_size])
        weight = len(y) / total
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True)) * weight
        grads = tape.gradient(loss, kernels)
        sums = [s + g for s, g in zip(sums, grads, strict=True)]
        loss_sum += float(loss)
    norms = {
        layer.name: float(tf.norm(g)) for layer, g in zip(layers, sums, strict=True)
    }
    return norms, loss_sum


def profile(names: list[str], norms: dict[str, float]) -> dict:
    """Relative depth of each layer and the first/last ratio.

    Main-path layers (conv and dense, shortcut projections excluded) get
    relative depths 0..1 in order; a shortcut projection gets the depth of
    its block's first convolution, whose input it shares.
    """
    main = [name for name in names if "shortcut" not in name]
    depth = {name: i / (len(main) - 1) for i, name in enumerate(main)}
    for name in names:
        if "shortcut" in name:
            depth[name] = depth[name.replace("shortcut_conv", "conv1")]
    first, last = norms[main[0]], norms[main[-1]]
    return {
        "layers": names,
        "norms": norms,
        "relative_depth": depth,
        "first_layer": main[0],
        "last_layer": main[-1],
        "first_to_last": first / last,
        "min_to_last": min(norms[name] for name in main) / last,
        "max_to_last": max(norms[name] for name in main) / last,
    }


def measure(args, images, labels) -> dict:
    """Build every model x normalization from ``args.seed`` and measure it."""
    import keras

    import keras_resnet

    results = {}
    for key, (builder, options, family) in MODELS.items():
        entry = {"builder": builder, "options": options, "family": family}
        for normalization in NORMALIZATIONS:
            keras.utils.set_random_seed(args.seed)
            model = keras_resnet.build_model(
                builder,
                normalization=normalization,
                width_multiplier=args.width_multiplier,
                classifier_activation="linear",
                **options,
            )
            start = time.perf_counter()
            norms, loss = kernel_norms(model, images, labels, args.batch_size)
            names = list(norms)
            entry[normalization] = {
                **profile(names, norms),
                "loss": loss,
                "seconds": round(time.perf_counter() - start, 2),
            }
            print(
                f"{key:22s} {normalization:5s} first/last "
                f"{entry[normalization]['first_to_last']:10.4g}  loss {loss:10.4g}",
                flush=True,
            )
            keras.backend.clear_session()
        results[key] = entry
    return results


def plot(report: dict, path: pathlib.Path) -> None:
    """One column per family. Top: norm / classifier's norm; bottom: norm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        2, len(FAMILIES), figsize=(15, 8.4), sharex=True, sharey="row"
    )
    for column, family in enumerate(FAMILIES):
        for key, entry in report["models"].items():
            if entry["family"] != family:
                continue
            for normalization, style in zip(NORMALIZATIONS, ("-", "--"), strict=True):
                _plot_profile(axes[:, column], key, normalization, style, entry)
        top, bottom = axes[:, column]
        top.axhline(1.0, color="grey", linewidth=0.6)
        top.set_title(family)
        top.legend(fontsize=8)
        bottom.set_xlabel("relative depth of the conv/dense layer (0 = first, 1 = fc)")
        for ax in (top, bottom):
            ax.set_yscale("log")
            ax.grid(True, which="major", alpha=0.3)
    axes[0, 0].set_ylabel("gradient L2 norm / classifier's (log)")
    axes[1, 0].set_ylabel("gradient L2 norm (log)")
    fig.suptitle(title_of(report), fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_profile(axes, key: str, normalization: str, style: str, entry: dict):
    data = entry[normalization]
    last = data["norms"][data["last_layer"]]
    main = [n for n in data["layers"] if "shortcut" not in n]
    side = [n for n in data["layers"] if "shortcut" in n]
    label = f"{key}, {'BN' if normalization == 'batch' else 'no BN'}"
    for ax, scale in zip(axes, (last, 1.0), strict=True):
        ax.plot(
            [data["relative_depth"][n] for n in main],
            [data["norms"][n] / scale for n in main],
            style,
            color=COLOURS[key],
            marker=".",
            markersize=4,
            linewidth=1.4,
            label=label,
        )
        if side:
            ax.plot(
                [data["relative_depth"][n] for n in side],
                [data["norms"][n] / scale for n in side],
                "o" if normalization == "batch" else "s",
                mfc="none",
                color=COLOURS[key],
                markersize=6,
            )


def title_of(report: dict) -> str:
    """The figure title: what was measured, on what, at which width."""
    probe = report["probe"]
    source = pathlib.Path(report["dataset"]).name
    return (
        f"Gradient norms at initialization (seed {report['seed']}), width "
        f"x{report['width_multiplier']:g}, probe of {probe['size']} "
        f"class-balanced {source} training images in chunks of "
        f"{probe['batch_size']}, {report['date'][:10]}\n"
        "solid: BN, dashed: no BN; open circles (BN) / squares (no BN): "
        "shortcut projections"
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    json_path = args.out_dir / "init_gradients.json"
    if args.replot:
        try:
            report = json.loads(json_path.read_text())
        except (OSError, ValueError) as error:
            print(f"Error: cannot read {json_path}: {error}", file=sys.stderr)
            return 1
        plot(report, args.out_dir / "init_gradients.png")
        print(f"redrew {args.out_dir / 'init_gradients.png'} from {json_path}")
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from keras_resnet.errors import KerasResNetError

    try:
        images, labels, counts, _ = load_probe(args.dataset, args.probe_size, args.seed)
    except (KerasResNetError, ValueError, OSError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    results = measure(args, images, labels)
    report = {
        "description": __doc__.split("\n\n")[0],
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": _common.machine_info(),
        "dataset": args.dataset,
        "width_multiplier": args.width_multiplier,
        "seed": args.seed,
        "probe": {
            "size": len(labels),
            "seed": args.seed,
            "class_counts": counts,
            "batch_size": args.batch_size,
        },
        "loss": "mean sparse categorical cross-entropy of the logits",
        "models": results,
    }
    for entry in results.values():
        for normalization in NORMALIZATIONS:
            for value in entry[normalization]["norms"].values():
                if not (math.isfinite(value) and value > 0):
                    print(f"Warning: a non-finite or zero norm: {value}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=1) + "\n")
    plot(report, args.out_dir / "init_gradients.png")
    print(f"wrote {json_path} and init_gradients.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reading ``gradient_norms.json`` by layer role, and the gradient-flow ratios.

A run's ``gradient_norms.json`` holds per-layer gradient L2 norms::

    {"layers": [...],                                   # forward order
     "probe": {"size": N, "seed": S, "class_counts": [...]},   # optional
     "records": [{"epoch", "step", "norms": {layer: v}}],      # probe norms
     "train": [{"epoch", "steps", "mean": {layer: v},          # optional
                "max": {layer: v}}]}

Files written before ``probe`` and ``train`` existed are read the same way.

Layers are lined up by their role in the network, not by their index, so
models that differ only in their shortcuts compare convolution for
convolution: ``layer_role`` parses the registered models' layer names
(``stem_conv``, ``stage2_block1_conv1``, ``stage2_block1_shortcut_conv``,
``stage3_conv2_conv``, ``transition1_conv``, ``fc``) and ``layer_layout``
places the main path on 1, 2, ... and each shortcut between the
convolutions of its block. Names of any other scheme keep their order.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

# Kinds of layer role. "layer" is a name of no known scheme.
STEM, CONV, SHORTCUT, TRANSITION, CLASSIFIER, OTHER = (
    "stem",
    "conv",
    "shortcut",
    "transition",
    "classifier",
    "layer",
)
CLASSIFIER_NAMES = ("fc", "predictions", "logits", "classifier")

_PATTERNS = (
    (re.compile(r"^stem(?:_conv\d*)?$"), STEM),
    (re.compile(r"^stage(\d+)_block(\d+)_shortcut(?:_conv)?$"), SHORTCUT),
    (re.compile(r"^stage(\d+)_block(\d+)_conv(\d+)$"), CONV),
    (re.compile(r"^stage(\d+)_conv(\d+)(?:_conv)?$"), CONV),  # blockless (VGG)
    (re.compile(r"^transition(\d+)(?:_conv)?$"), TRANSITION),
)

# The gradient-flow columns of the results table, see ``gradient_flow``.
GRADIENT_FLOW_KEYS = (
    "grad_first_last_probe_first_record",
    "grad_first_last_probe_final_record",
    "grad_early_late_probe_first_record",
    "grad_early_late_probe_final_record",
    "grad_first_last_train_first_epoch",
    "grad_first_last_train_final_epoch",
    "grad_early_late_train_first_epoch",
    "grad_early_late_train_final_epoch",
)


@dataclasses.dataclass(frozen=True)
class LayerRole:
    """Where a layer sits in the network.

    Attributes:
        kind: ``"stem"``, ``"conv"`` (a main-path convolution),
            ``"shortcut"`` (a projection shortcut), ``"transition"``
            (DenseNet), ``"classifier"``, or ``"layer"`` for a name of no
            known scheme.
        name: The layer name.
        stage: 1-based stage number, or None.
        block: 1-based block number within the stage, or None (also for the
            blockless stages of ``baseline_cnn``).
        conv: 1-based convolution number within the block (or stage).
    """

    kind: str
    name: str
    stage: int | None = None
    block: int | None = None
    conv: int | None = None

    @property
    def main_path(self) -> bool:
        """Whether the layer is on the main path (everything but shortcuts)."""
        return self.kind != SHORTCUT

    @property
    def label(self) -> str:
        """A short tick label: ``stem``, ``s2b1c1``, ``s2b1 sc``, ``fc``."""
        if self.kind == STEM:
            return "stem"
        if self.kind == CLASSIFIER:
            return "fc"
        if self.kind == TRANSITION:
            return f"t{self.stage}"
        if self.kind in (CONV, SHORTCUT):
            block = f"b{self.block}" if self.block is not None else ""
            tail = " sc" if self.kind == SHORTCUT else f"c{self.conv}"
            return f"s{self.stage}{block}{tail}"
        return self.name


def layer_role(name: str) -> LayerRole:
    """The role of a layer, parsed from the registered models' naming scheme.

    Example:
        >>> layer_role("stage2_block1_conv1")
        LayerRole(kind='conv', name='stage2_block1_conv1', stage=2, block=1, conv=1)
        >>> layer_role("stage2_block1_shortcut_conv").kind
        'shortcut'

    Args:
        name: A kernel layer's name as recorded in ``gradient_norms.json``.

    Returns:
        A ``LayerRole``; kind ``"layer"`` when the name follows no known
        scheme (such layers keep their recorded order).
    """
    if name in CLASSIFIER_NAMES:
        return LayerRole(CLASSIFIER, name)
    for pattern, kind in _PATTERNS:
        match = pattern.match(name)
        if not match:
            continue
        numbers = [int(group) for group in match.groups()]
        if kind == STEM:
            return LayerRole(STEM, name)
        if kind == TRANSITION:
            return LayerRole(TRANSITION, name, stage=numbers[0])
        if kind == SHORTCUT:
            return LayerRole(SHORTCUT, name, stage=numbers[0], block=numbers[1])
        if len(numbers) == 3:
            stage, block, conv = numbers
            return LayerRole(CONV, name, stage=stage, block=block, conv=conv)
        return LayerRole(CONV, name, stage=numbers[0], conv=numbers[1])
    return LayerRole(OTHER, name)


@dataclasses.dataclass(frozen=True)
class LayerLayout:
    """The layers of one model placed on a main-path axis.

    Attributes:
        main: Main-path layers in forward order (shortcuts excluded); the
            i-th is drawn at x = i + 1.
        shortcuts: Projection-shortcut layers in forward order.
        positions: x of every layer: main-path layers at 1, 2, ...; a
            shortcut half a step after the first convolution of its block.
        classifier: The classifier layer: the one named like a classifier,
            else the last main-path layer (None when there is none).
    """

    main: list[str]
    shortcuts: list[str]
    positions: dict[str, float]
    classifier: str | None

    @property
    def convs(self) -> list[str]:
        """Main-path layers other than the classifier (stem included)."""
        return [name for name in self.main if name != self.classifier]

    def labels(self) -> list[str]:
        """Tick labels of ``main``, in order (see ``LayerRole.label``)."""
        return [layer_role(name).label for name in self.main]


def layer_layout(layers: Sequence[str]) -> LayerLayout:
    """Place a model's layers by role (see ``LayerLayout``).

    Args:
        layers: Layer names in forward order (``gradient_norms.json``'s
            ``layers``).

    Returns:
        A ``LayerLayout``. Two models whose main paths have the same layers
        (``resnet18`` and ``resnet18_noskip``) get the same positions for
        them, whatever shortcuts either has.
    """
    roles = [layer_role(name) for name in layers]
    main = [role.name for role in roles if role.main_path]
    positions = {name: float(i) for i, name in enumerate(main, start=1)}
    shortcuts = []
    previous = 0.0  # x of the last main-path layer seen, for a lone shortcut
    for role in roles:
        if role.main_path:
            previous = positions[role.name]
            continue
        shortcuts.append(role.name)
        block = [
            positions[other.name]
            for other in roles
            if other.kind == CONV
            and (other.stage, other.block) == (role.stage, role.block)
        ]
        positions[role.name] = (min(block) if block else previous) + 0.5
    named = [role.name for role in roles if role.kind == CLASSIFIER]
    classifier = named[-1] if named else (main[-1] if main else None)
    return LayerLayout(main, shortcuts, positions, classifier)


def layer_names(gradient_norms: Mapping[str, Any] | None) -> list[str]:
    """The layer names of a ``gradient_norms.json``, in forward order."""
    if not gradient_norms:
        return []
    if gradient_norms.get("layers"):
        return list(gradient_norms["layers"])
    for record in gradient_norms.get("records") or []:
        return list(record.get("norms") or {})
    for entry in gradient_norms.get("train") or []:
        return list(entry.get("mean") or {})
    return []


def sorted_records(gradient_norms: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Probe-norm records in training order (by epoch, then step)."""
    if not gradient_norms:
        return []
    return sorted(
        gradient_norms.get("records") or [], key=lambda r: (r["epoch"], r["step"])
    )


def train_entries(gradient_norms: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Per-epoch training-gradient entries, by epoch (empty for old files)."""
    if not gradient_norms:
        return []
    entries = [e for e in gradient_norms.get("train") or [] if e.get("mean")]
    return sorted(entries, key=lambda e: e["epoch"])


def probe_info(gradient_norms: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``probe`` description (``size``, ``seed``, ``class_counts``) or {}."""
    probe = (gradient_norms or {}).get("probe")
    return dict(probe) if isinstance(probe, Mapping) else {}


def first_last_ratio(norms: Mapping[str, Any], layout: LayerLayout) -> float:
    """First main-path layer's gradient norm over the classifier's.

    Returns:
        The ratio, or NaN when a norm is missing, not finite or zero.
    """
    if not layout.main or layout.classifier is None:
        return math.nan
    return _divide(_value(norms, layout.main[0]), _value(norms, layout.classifier))


def early_late_ratio(norms: Mapping[str, Any], layout: LayerLayout) -> float:
    """Mean norm of the first third of the main-path convolutions over the last.

    The convolutions are ``layout.convs``: the main path without the
    classifier, shortcuts excluded; a third is ``len(convs) // 3`` layers
    (5 of ResNet-18's 17).

    Returns:
        The ratio, or NaN with fewer than three convolutions or a missing,
        non-finite or zero norm.
    """
    convs = layout.convs
    third = len(convs) // 3
    if third == 0:
        return math.nan
    early = [_value(norms, name) for name in convs[:third]]
    late = [_value(norms, name) for name in convs[-third:]]
    return _divide(sum(early) / third, sum(late) / third)


def gradient_flow(gradient_norms: Mapping[str, Any] | None) -> dict[str, float]:
    """The gradient-flow ratios of one run (keys ``GRADIENT_FLOW_KEYS``).

    ``first_last`` is ``first_last_ratio`` and ``early_late`` is
    ``early_late_ratio``; ``probe`` ratios use the probe norms at the first
    and the last record, ``train`` ratios the per-epoch mean of the
    gradients the optimizer received, in the first and the last epoch.

    Returns:
        Every key of ``GRADIENT_FLOW_KEYS``; NaN where the file, the records
        or the ``train`` entries (files written before they existed) are
        missing.
    """
    layout = layer_layout(layer_names(gradient_norms))
    records = sorted_records(gradient_norms)
    entries = train_entries(gradient_norms)
    series = {
        ("probe", "record"): [r.get("norms") or {} for r in records],
        ("train", "epoch"): [e["mean"] for e in entries],
    }
    flow = {}
    for (source, unit), norms in series.items():
        for ratio, function in (
            ("first_last", first_last_ratio),
            ("early_late", early_late_ratio),
        ):
            for when, index in (("first", 0), ("final", -1)):
                key = f"grad_{ratio}_{source}_{when}_{unit}"
                flow[key] = function(norms[index], layout) if norms else math.nan
    return {key: flow[key] for key in GRADIENT_FLOW_KEYS}


def _value(norms: Mapping[str, Any], name: str) -> float:
    value = norms.get(name)
    try:
        return float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def _divide(top: float, bottom: float) -> float:
    if not (math.isfinite(top) and math.isfinite(bottom)) or bottom == 0:
        return math.nan
    return top / bottom

"""Small formatting helpers and parameter types shared by the commands."""

from __future__ import annotations

import math
import shutil
import sys
import textwrap
from collections.abc import Sequence

import click


def known_models() -> list[str]:
    """Registered model names, without importing Keras.

    The built-in models come from ``keras_resnet.models.catalog`` (checked
    against the registry by the tests); models registered in this process
    are added when the registry has already been imported.
    """
    from keras_resnet.models.catalog import CATALOG

    names = set(CATALOG)
    registry = sys.modules.get("keras_resnet.models.registry")
    if registry is not None:
        names.update(registry._REGISTRY)
    return sorted(names)


def unknown_model_message(name: str, known: Sequence[str]) -> str:
    """``'resnet19' is not one of the registered models (did you mean ...``."""
    from keras_resnet.models.catalog import did_you_mean

    return (
        f"{name!r} is not one of the registered models{did_you_mean(name, known)}. "
        f"Known models: {', '.join(known)}."
    )


def without_received(error: Exception) -> str:
    """A library error's message without its Python ``Received: name=value``
    tail, for the command line, which names options instead."""
    return str(error).split(" Received:")[0]


class ModelChoice(click.Choice):
    """``click.Choice`` over the registered models (``known_models``).

    Reads the catalog, not the registry, so that checking a name, ``--help``
    and shell completion do not import Keras. An unknown name is a usage
    error (exit 2) that suggests the closest known name.
    """

    def __init__(self) -> None:
        super().__init__([], case_sensitive=True)
        self.name = "model"

    @property
    def choices(self) -> Sequence[str]:
        return known_models()

    @choices.setter
    def choices(self, value) -> None:
        # click.Choice.__init__ assigns choices; the registry is the source.
        del value

    def convert(self, value, param, ctx):
        known = self.choices
        if value in known:
            return value
        self.fail(unknown_model_message(value, known), param, ctx)


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses ``nan`` and ``inf``.

    ``click.FloatRange`` accepts ``nan`` even with bounds (every comparison
    with NaN is false), and ``inf`` without an upper bound.
    """

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


class WidthMultiplierType(FiniteFloatRange):
    """A positive finite width multiplier, at most the models' own maximum.

    The bound and its explanation come from the check every builder runs
    (``keras_resnet.models.catalog.check_width_multiplier``, keras-free).
    """

    def __init__(self) -> None:
        super().__init__(min=0, min_open=True)

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        from keras_resnet.models.catalog import check_width_multiplier

        try:
            check_width_multiplier(number)
        except ValueError as error:
            reason = without_received(error)
            self.fail(reason.removeprefix("width_multiplier "), param, ctx)
        return number


def model_choice() -> ModelChoice:
    """A parameter type accepting any registered model name."""
    return ModelChoice()


def format_count(number: float) -> str:
    """``11173962`` -> ``"11.17M"``; ``5,120`` -> ``"5.12K"``."""
    for threshold, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(number) >= threshold:
            return f"{number / threshold:.2f}{suffix}"
    return str(int(number))


def plural(count: int, noun: str) -> str:
    """``plural(1, "epoch")`` -> ``"1 epoch"``; ``plural(3, "epoch")`` -> ``"3 epochs"``."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def format_duration(seconds: float) -> str:
    """``3725.2`` -> ``"1h02m05s"``; ``12.34`` -> ``"12.3s"``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s"


def terminal_width() -> int:
    """Columns of the terminal on stdout; 80 when it is not a terminal."""
    if not sys.stdout.isatty():
        return 80
    return shutil.get_terminal_size((80, 24)).columns


def format_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    width: int | None = None,
) -> str:
    """A plain-text table; numeric columns right-aligned, text left-aligned.

    Args:
        headers: Column titles.
        rows: One sequence of values per row.
        width: If given, the last column is wrapped (continuation lines
            indented under it) so that no line is longer than ``width``,
            where the other columns leave it at least 20 characters.
    """
    cells = [[str(value) for value in row] for row in rows]
    if width is not None and cells:
        return _wrapped_table(headers, cells, width)
    widths = [
        max([len(header), *(len(row[index]) for row in cells)])
        for index, header in enumerate(headers)
    ]
    numeric = [
        bool(cells) and all(_looks_numeric(row[index]) for row in cells)
        for index in range(len(headers))
    ]

    def line(values):
        return "  ".join(
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in cells)])


def _wrapped_table(headers: Sequence[str], cells: list[list[str]], width: int) -> str:
    fixed = format_table([*headers[:-1], ""], [[*row[:-1], ""] for row in cells])
    indent = max(len(line) for line in fixed.splitlines())
    room = max(20, width - indent)
    lines = fixed.splitlines()
    out = [(lines[0].ljust(indent) + headers[-1]).rstrip()]
    out.append(lines[1].ljust(indent) + "-" * min(room, max(len(r[-1]) for r in cells)))
    for line, row in zip(lines[2:], cells, strict=True):
        parts = textwrap.wrap(row[-1], room, break_on_hyphens=False) or [""]
        out.append((line.ljust(indent) + parts[0]).rstrip())
        out.extend(" " * indent + part for part in parts[1:])
    return "\n".join(out)


def _looks_numeric(text: str) -> bool:
    return text[:1].isdigit() or (text[:1] == "-" and text[1:2].isdigit())

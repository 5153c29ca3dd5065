"""Small formatting helpers and parameter types shared by the commands."""

from __future__ import annotations

import math
from collections.abc import Sequence

import click


class ModelChoice(click.Choice):
    """``click.Choice`` over the registered models, read when first needed.

    Reading the registry imports Keras, so it waits until a value is checked
    or ``--help`` is shown.
    """

    def __init__(self) -> None:
        super().__init__([], case_sensitive=True)
        self.name = "model"

    @property
    def choices(self) -> Sequence[str]:
        from keras_resnet.models import list_models

        return list_models()

    @choices.setter
    def choices(self, value) -> None:
        # click.Choice.__init__ assigns choices; the registry is the source.
        del value


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

    The maximum (``keras_resnet.models._factory.MAX_WIDTH_MULTIPLIER``) is
    checked when a value is given, because importing the models imports
    Keras, which ``--help`` does not need.
    """

    def __init__(self) -> None:
        super().__init__(min=0, min_open=True)

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        # The builders' own check owns the bound and its explanation.
        from keras_resnet.models._factory import validate_positive

        try:
            validate_positive(number, "width_multiplier")
        except ValueError as error:
            reason = str(error).split(" Received:")[0]
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


def format_duration(seconds: float) -> str:
    """``3725.2`` -> ``"1h02m05s"``; ``12.34`` -> ``"12.3s"``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table; numeric columns right-aligned, text left-aligned."""
    cells = [[str(value) for value in row] for row in rows]
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


def _looks_numeric(text: str) -> bool:
    return text[:1].isdigit() or (text[:1] == "-" and text[1:2].isdigit())

"""Argument checks shared by every layer of the package (keras-free).

One style everywhere: ``check_*(name, value, ...)`` raises ``ValueError``
whose message names the argument, states the rule and ends in
``Received: name=value`` (the CLI drops that tail when it names the option
itself).
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def fail(name: str, value, rule: str) -> None:
    """Raise the package's ``ValueError`` for an argument that breaks ``rule``.

    Args:
        name: Argument name.
        value: The value received.
        rule: What the value must be, as a phrase: ``"must be ..."``.

    Raises:
        ValueError: Always.
    """
    raise ValueError(f"{name} {rule}. Received: {name}={value!r}")


def check_int(name: str, value, *, minimum: int = 1, allow_none: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer >= ``minimum``.

    Booleans are refused (``True`` is not a count).

    Args:
        name: Argument name, for the message.
        value: The value to check.
        minimum: Smallest accepted value (1: "positive", 0: "non-negative").
        allow_none: Whether ``None`` is accepted too.

    Raises:
        ValueError: If the value is not accepted.
    """
    if allow_none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        rule = {1: "a positive integer", 0: "a non-negative integer"}.get(
            minimum, f"an integer >= {minimum}"
        )
        if allow_none:
            rule += " or None"
        fail(name, value, f"must be {rule}")


def is_finite_number(value) -> bool:
    """Whether ``value`` is a real number (not a bool), neither nan nor inf."""
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
    )


def check_number(
    name: str,
    value,
    *,
    positive: bool = False,
    maximum: float | None = None,
    below: float | None = None,
    why: str = "",
) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number in range.

    Args:
        name: Argument name, for the message.
        value: The value to check.
        positive: ``True``: must be > 0; ``False``: must be >= 0.
        maximum: Largest accepted value (inclusive), if any.
        below: Bound the value must stay under (exclusive), if any.
        why: Reason appended to the rule for a value over ``maximum``
            (``" (parameters grow with its square)"``).

    Raises:
        ValueError: If the value is not accepted.
    """
    finite = is_finite_number(value)
    if below is not None:
        low = "(0" if positive else "[0"
        rule = f"a finite number in {low}, {below:g})"
        ok = finite and (value > 0 if positive else value >= 0) and value < below
    elif positive:
        ok, rule = finite and value > 0, "a positive finite number"
    else:
        ok, rule = finite and value >= 0, "a finite number >= 0"
    if not ok:
        fail(name, value, f"must be {rule}")
    if maximum is not None and value > maximum:
        fail(name, value, f"must be at most {maximum:g}{why}")


def check_choice(name: str, value, choices: Iterable[str]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``.

    Args:
        name: Argument name, for the message.
        value: The value to check.
        choices: The accepted values, in the order the message lists them.

    Raises:
        ValueError: If the value is not accepted.
    """
    choices = tuple(choices)
    if value not in choices:
        fail(name, value, f"must be one of {', '.join(map(str, choices))}")

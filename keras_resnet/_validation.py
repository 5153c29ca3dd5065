"""Argument checks shared by every layer of the package (keras-free)."""

from __future__ import annotations


def check_int(name: str, value, *, minimum: int = 1, allow_none: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer >= ``minimum``.

    Booleans are refused (``True`` is not a count). The message ends in
    ``Received: name=value``.

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
        raise ValueError(f"{name} must be {rule}. Received: {name}={value!r}")

"""Compatibility shim: the shared builder now lives in ``builder.py``.

``keras_resnet.cli.output`` and ``tests/cli/test_cli_options.py`` still
import the width bound from here; both should import
``MAX_WIDTH_MULTIPLIER`` / ``check_width_multiplier`` from
``keras_resnet.models.catalog`` (keras-free), after which this module goes.
"""

from __future__ import annotations

from keras_resnet._validation import check_number
from keras_resnet.models.catalog import MAX_WIDTH_MULTIPLIER, check_width_multiplier


def validate_positive(value, name: str) -> None:
    """``check_width_multiplier`` for the width, else a positive finite number."""
    if name == "width_multiplier":
        check_width_multiplier(value)
    else:
        check_number(name, value, positive=True)


__all__ = ["MAX_WIDTH_MULTIPLIER", "validate_positive"]

"""The file formats of the study's figures, written once.

Matplotlib-free, so the command line (whose ``--help`` must start in a blink)
offers the same choices as ``keras_resnet.study.figures`` draws.
"""

from __future__ import annotations

from collections.abc import Sequence

from keras_resnet._validation import check_choice, fail

# What a figure can be written as, and the default (the file report.md
# embeds): every extra format draws the whole figure again.
FORMATS = ("png", "svg", "pdf")
DEFAULT_FORMATS = ("png",)


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    """``formats`` (a sequence, or one name) as a tuple, checked.

    Raises:
        ValueError: For an unknown or repeated format, or none.
    """
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    if not formats:
        fail("formats", formats, f"must name at least one of {', '.join(FORMATS)}")
    for fmt in formats:
        check_choice("formats", fmt, FORMATS)
    if len(set(formats)) != len(formats):
        fail("formats", formats, "must not repeat a format")
    return formats

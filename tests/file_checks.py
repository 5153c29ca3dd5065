"""Checks on the files a command leaves behind, shared by every test folder."""

from __future__ import annotations

import hashlib
import pathlib


def checksums(folder: pathlib.Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, by path relative to it.

    Two equal results mean nothing under ``folder`` was written, added or
    removed in between.
    """
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }

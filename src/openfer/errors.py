"""The exceptions openfer raises. Each message names the file, row or argument at fault."""

from __future__ import annotations

import os


class OpenFERError(Exception):
    """Base class of every error openfer raises on bad input."""


class DatasetError(OpenFERError):
    """A dataset file or folder is missing, malformed or holds an invalid label."""


class ImageError(OpenFERError):
    """An image or video cannot be read or decoded."""


class CheckpointError(OpenFERError):
    """A checkpoint or weights file is missing, corrupt or belongs to another model."""


class ConfigError(OpenFERError, ValueError):
    """An unknown model, dataset or option, or an option given a value it does not take (also a ValueError,
    so ``except ValueError`` keeps catching it)."""


class LabelError(OpenFERError):
    """A class name or index has no meaning in the vocabulary it is used with."""


def display_path(text: str | bytes | os.PathLike) -> str:
    """``text`` (a message or a path) as it is safe to print on one terminal line: control characters,
    ANSI escapes and newlines included, shown escaped (``\\x1b``, ``\\n``), as are bytes that are not UTF-8.
    Every message that names a user's file goes through it (the CLI prints errors with it)."""
    text = os.fspath(text) if isinstance(text, os.PathLike) else text
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char.isprintable():
            out.append(char)
        elif 0xDC80 <= ord(char) <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return "".join(out)

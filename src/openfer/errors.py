"""The exceptions openfer raises. Each message names the file, row or argument at fault."""

from __future__ import annotations


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

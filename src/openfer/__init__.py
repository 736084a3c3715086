"""openfer: facial expression recognition for practitioners and researchers.

The public names load on first use (PEP 562), so ``import openfer`` and the ``openfer`` command's argument
parsing stay torch-free: ``openfer --help`` and bad input are answered in a fraction of a second.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from openfer.errors import CheckpointError, ConfigError, DatasetError, ImageError, LabelError, OpenFERError

if TYPE_CHECKING:
    from openfer.inference import ExpressionModel, load_model
    from openfer.models.registry import create_model, list_models
    from openfer.recognize import Recognizer

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_LAZY = {
    "ExpressionModel": "openfer.inference",
    "load_model": "openfer.inference",
    "create_model": "openfer.models.registry",
    "list_models": "openfer.models.registry",
    "Recognizer": "openfer.recognize",
}

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DatasetError",
    "ImageError",
    "LabelError",
    "OpenFERError",
    "ExpressionModel",
    "Recognizer",
    "load_model",
    "create_model",
    "list_models",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if not name.startswith("_") and importlib.util.find_spec(f"openfer.{name}") is not None:
        return importlib.import_module(f"openfer.{name}")  # a submodule, as the eager imports used to bind it
    raise AttributeError(f"module 'openfer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

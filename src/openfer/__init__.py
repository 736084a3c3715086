"""openfer: facial expression recognition for practitioners and researchers.

The public names load on first use (PEP 562), so ``import openfer`` and the ``openfer`` command's argument
parsing stay torch-free: ``openfer --help`` and bad input are answered in a fraction of a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from openfer.lazy import lazy_attributes
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


__getattr__, __dir__ = lazy_attributes("openfer", _LAZY, globals())

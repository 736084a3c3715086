"""openfer: facial expression recognition for practitioners and researchers."""

from openfer.errors import CheckpointError, ConfigError, DatasetError, ImageError, LabelError, OpenFERError
from openfer.inference import ExpressionModel, load_model
from openfer.models.registry import create_model, list_models
from openfer.recognize import Recognizer

__version__ = "0.1.0"

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

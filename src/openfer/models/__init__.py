"""Registered FER models; importing this package registers every architecture."""

from openfer.models import default, ensemble, repvgg  # noqa: F401
from openfer.models.backbones import resnet  # noqa: F401
from openfer.models import dan, dpsan, faml, gclnet  # noqa: F401
from openfer.models import emonext, pattlite, resemotenet, rmn  # noqa: F401
from openfer.models.registry import create_model, list_models, model_info, register_model

__all__ = ["create_model", "list_models", "model_info", "register_model"]

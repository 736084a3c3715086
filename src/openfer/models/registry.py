"""Model registry in the style of timm: ``@register_model`` factories, ``create_model``, ``list_models``."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from torch import nn

from openfer.checkpoints import load_weights
from openfer.errors import ConfigError


@dataclass(frozen=True)
class ModelInfo:
    """What travels with a model's weights (timm's ``pretrained_cfg``).

    ``input_size`` (channels, height, width) and the ``mean``/``std`` that inputs in [0, 1] are normalised
    with; ``head``: the name of the classifier module (what a backbone checkpoint leaves out, see
    :func:`openfer.checkpoints.load_backbone_weights`; empty for an ensemble, whose members carry theirs); ``default_losses``: the losses of the model's paper,
    used when a recipe names none; ``paper``: the source; ``pretrained``: the weights the paper starts from
    (``ms-celeb-1m``, ``imagenet``, ``imagenet-22k``; empty: from scratch), which training warns about when absent.
    """

    name: str
    factory: Callable[..., nn.Module]
    input_size: tuple[int, int, int] = (1, 48, 48)
    mean: float = 0.5
    std: float = 0.25
    head: str = ""
    default_losses: tuple[str, ...] = ("cross_entropy",)
    paper: str = ""
    extras: dict[str, Any] = field(default_factory=dict)
    pretrained: str = ""

    @property
    def channels(self) -> int:
        """Input channels (1: grey, 3: RGB)."""
        return self.input_size[0]

    @property
    def image_size(self) -> int:
        """Side of the square input, in pixels."""
        return self.input_size[-1]


#: The normalisation of ImageNet-initialised networks fed grey faces: the mean and std of ImageNet's three
#: channel statistics (0.485, 0.456, 0.406 / 0.229, 0.224, 0.225), as the engine normalises with one of each.
IMAGENET_GREY_MEAN, IMAGENET_GREY_STD = 0.449, 0.226

_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    name: str | None = None,
    *,
    input_size: tuple[int, int, int] = (1, 48, 48),
    mean: float = 0.5,
    std: float = 0.25,
    head: str = "",
    default_losses: tuple[str, ...] = ("cross_entropy",),
    paper: str = "",
    pretrained: str = "",
    **extras: Any,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a factory ``f(num_classes=..., **kwargs) -> nn.Module`` under ``name`` with its :class:`ModelInfo`."""

    def decorate(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or factory.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} registered twice")
        _REGISTRY[key] = ModelInfo(key, factory, tuple(input_size), float(mean), float(std), head, tuple(default_losses), paper, dict(extras), pretrained)
        return factory

    return decorate


def _ensure_loaded() -> None:
    import openfer.models  # noqa: F401  (importing the package registers every model)


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a glob pattern, sorted."""
    _ensure_loaded()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def model_info(name: str) -> ModelInfo:
    """The registry entry of ``name``; :class:`ConfigError` for an unknown name."""
    _ensure_loaded()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def create_model(name: str, num_classes: int = 7, checkpoint: str | Path | None = None, **kwargs: Any) -> nn.Module:
    """Build a registered model with ``num_classes`` outputs (an ``nn.Module``; nothing is downloaded).

    ``checkpoint``: a weights file (safetensors, a Lightning checkpoint or a torch state dict) loaded with
    :func:`openfer.checkpoints.load_weights`, every key and shape checked.
    """
    model = model_info(name).factory(num_classes=num_classes, **kwargs)
    model.openfer_name = name  # type: ignore[attr-defined]
    if checkpoint is not None:
        load_weights(model, checkpoint)
    return model


def info_of(net: nn.Module) -> ModelInfo:
    """The registry entry of a network built by :func:`create_model`; the defaults of :class:`ModelInfo`
    (openfer's 48 x 48 grey input) for any other network."""
    name = getattr(net, "openfer_name", None)
    return model_info(name) if name is not None else ModelInfo(type(net).__name__, type(net))

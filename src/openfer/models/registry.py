"""Model registry in the style of timm: ``@register_model`` factories, ``create_model``, ``list_models``."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn

from openfer.errors import ConfigError


@dataclass(frozen=True)
class ModelInfo:
    """What a model expects and where it comes from (timm's ``pretrained_cfg``)."""

    name: str
    factory: Callable[..., nn.Module]
    input_size: tuple[int, int, int] = (1, 48, 48)
    paper: str = ""
    default_losses: tuple[str, ...] = ("cross_entropy",)
    extras: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    name: str | None = None,
    *,
    input_size: tuple[int, int, int] = (1, 48, 48),
    paper: str = "",
    default_losses: tuple[str, ...] = ("cross_entropy",),
    **extras: Any,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a factory ``f(num_classes=..., **kwargs) -> nn.Module`` under ``name``."""

    def decorate(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or factory.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} registered twice")
        _REGISTRY[key] = ModelInfo(key, factory, input_size, paper, default_losses, dict(extras))
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


def create_model(name: str, num_classes: int = 7, **kwargs: Any) -> nn.Module:
    """Build a registered model with ``num_classes`` outputs (an ``nn.Module``; no weights are downloaded)."""
    model = model_info(name).factory(num_classes=num_classes, **kwargs)
    model.openfer_name = name  # type: ignore[attr-defined]
    return model

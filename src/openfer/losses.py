"""Training losses. ``build_loss(name, **options)`` returns a module ``loss(outputs, targets, batch)``.

``outputs`` is whatever the model's forward returns (logits, or a dict holding ``logits`` and
model-specific extras such as attention maps); each loss takes what it needs from it.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from openfer.errors import ConfigError

_LOSSES: dict[str, Callable[..., nn.Module]] = {}


def register_loss(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        _LOSSES[name] = cls
        return cls

    return decorate


def logits_of(outputs: Any) -> torch.Tensor:
    """The class logits inside a model's outputs (a tensor, or a dict with key ``logits``)."""
    return outputs["logits"] if isinstance(outputs, dict) else outputs


@register_loss("cross_entropy")
class CrossEntropy(nn.Module):
    """Cross-entropy with optional label smoothing (Szegedy et al., 2016) and class weights.

    Soft targets (a float N x C tensor, e.g. FERPlus vote distributions) are accepted as well.
    """

    def __init__(self, label_smoothing: float = 0.0, class_weights: list[float] | None = None) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing
        weight = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
        self.register_buffer("weight", weight, persistent=False)

    def forward(self, outputs: Any, targets: torch.Tensor, batch: Any = None) -> torch.Tensor:
        logits = logits_of(outputs).float()
        return F.cross_entropy(logits, targets, weight=self.weight, label_smoothing=self.label_smoothing)


def build_loss(name: str, **options: Any) -> nn.Module:
    """A registered loss by name."""
    if name not in _LOSSES:
        raise ConfigError(f"unknown loss {name!r}; available: {', '.join(sorted(_LOSSES))}")
    return _LOSSES[name](**options)


def list_losses() -> list[str]:
    return sorted(_LOSSES)

"""Snapshot ensembles: several trained copies of one architecture behind one ``nn.Module``.

Huang et al., 2017, "Snapshot Ensembles: Train 1, get M for free": the networks at the ends of
successive learning-rate cycles are averaged in probability space.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from openfer.losses import logits_of
from openfer.models.registry import create_model, register_model


class ProbabilityAverage(nn.Module):
    """Members' softmax probabilities averaged; returns their log, so ``softmax(output)`` is the average."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probabilities = torch.stack([torch.softmax(logits_of(m(x)).float(), dim=1) for m in self.members]).mean(0)
        return torch.log(probabilities.clamp_min(1e-12))


@register_model("snapshot_ensemble", paper="Huang et al., 2017, Snapshot Ensembles")
def snapshot_ensemble(
    num_classes: int = 7, member: str = "openfer_vgg", members: int = 2, member_options: dict[str, Any] | None = None
) -> ProbabilityAverage:
    """``members`` copies of registered model ``member`` (built with ``member_options``)."""
    return ProbabilityAverage([create_model(member, num_classes=num_classes, **(member_options or {})) for _ in range(members)])

"""Probability-averaging ensembles: several trained networks of one architecture behind one ``nn.Module``.

The members may be independent training runs (different seeds: the shipped default model) or the
snapshots at the ends of successive learning-rate cycles of one run (Huang et al., 2017, "Snapshot
Ensembles: Train 1, get M for free"). Their softmax probabilities are averaged (NOI / averaging in the
FAML paper's terms); ``openfer weights ensemble`` packs such a file and ``openfer.load_model`` reads it.
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


@register_model("average_ensemble", paper="probability averaging; Huang et al., 2017, Snapshot Ensembles")
def average_ensemble(
    num_classes: int = 7, member: str = "openfer_vgg", members: int = 2, member_options: dict[str, Any] | None = None
) -> ProbabilityAverage:
    """``members`` copies of registered model ``member`` (built with ``member_options``), probabilities averaged."""
    return ProbabilityAverage([create_model(member, num_classes=num_classes, **(member_options or {})) for _ in range(members)])

"""The registered ``average_ensemble`` model: several networks of one registered architecture whose softmax
probabilities are averaged (:class:`openfer.ensemble.ProbabilityAverage`). ``openfer weights ensemble``
packs such a file and ``openfer.load_model`` reads it.
"""

from __future__ import annotations

from typing import Any

from openfer.ensemble.averaging import ProbabilityAverage
from openfer.models.registry import create_model, register_model


@register_model("average_ensemble", paper="probability averaging; Huang et al., 2017, Snapshot Ensembles")
def average_ensemble(
    num_classes: int = 7, member: str = "openfer_vgg", members: int = 2, member_options: dict[str, Any] | None = None
) -> ProbabilityAverage:
    """``members`` copies of registered model ``member`` (built with ``member_options``), probabilities averaged."""
    return ProbabilityAverage([create_model(member, num_classes=num_classes, **(member_options or {})) for _ in range(members)])

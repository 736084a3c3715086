"""Voting rules that combine the outputs of several networks (FAML paper, §3.3 and Table 6).

Every rule takes the networks' class scores (logits) as an (M, N, C) tensor or a sequence of M (N, C) arrays
and returns (N, C) ensemble scores; :func:`ensemble_predict` takes their argmax. Ties go to the lowest class
index (``argmax`` returns the first maximum; the top-two ranking uses a stable sort).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from openfer.errors import ConfigError

Outputs = torch.Tensor | np.ndarray | Sequence[torch.Tensor | np.ndarray]


def stack_outputs(outputs: Outputs) -> torch.Tensor:
    """The networks' scores as one float (M, N, C) tensor."""
    if isinstance(outputs, (torch.Tensor, np.ndarray)):
        stacked = torch.as_tensor(outputs)
    else:
        stacked = torch.stack([torch.as_tensor(o) for o in outputs])
    if stacked.dim() != 3:
        raise ValueError(f"outputs must be (networks, samples, classes), got shape {tuple(stacked.shape)}")
    return stacked.float()


def noi(outputs: Outputs) -> torch.Tensor:
    """NOI (FAML paper, Eq. 13): ``sum_l softmax(Out^l)``."""
    return stack_outputs(outputs).softmax(dim=-1).sum(dim=0)


def average(outputs: Outputs, probabilities: bool = True) -> torch.Tensor:
    """Soft voting: the mean of the softmax probabilities (NOI / M), or of the raw logits."""
    stacked = stack_outputs(outputs)
    return noi(stacked) / stacked.shape[0] if probabilities else stacked.mean(dim=0)


def weighted(outputs: Outputs, weights: Sequence[float] | None = None) -> torch.Tensor:
    """Weighted soft voting: ``sum_l w_l softmax(Out^l) / sum_l w_l`` (equal weights: :func:`average`)."""
    stacked = stack_outputs(outputs)
    if weights is None:
        return average(stacked)
    w = torch.as_tensor(list(weights), dtype=torch.float32)
    if w.shape != (stacked.shape[0],) or (w < 0).any() or w.sum() <= 0:
        raise ConfigError(f"weights: need {stacked.shape[0]} non-negative numbers with a positive sum, got {list(weights)}")
    return (stacked.softmax(dim=-1) * (w / w.sum())[:, None, None]).sum(dim=0)


def t1v(outputs: Outputs) -> torch.Tensor:
    """T1V, top-one voting ("bagging" in FAML Table 6): each network gives one vote to its argmax class."""
    stacked = stack_outputs(outputs)
    return torch.nn.functional.one_hot(stacked.argmax(dim=-1), stacked.shape[-1]).sum(dim=0).float()


def t2v(outputs: Outputs, alpha: float = 1.9, beta: float = 1.0) -> torch.Tensor:
    """T2V, top-two voting (FAML paper, Eqs. 10 and 12): each network gives ``alpha`` to its top class and
    ``beta`` to its second; the votes are summed over networks. alpha = 1.9, beta = 1 (§4.1) makes two
    second places outweigh one first place. Eq. 11 is the same rule written with ascending ranks."""
    stacked = stack_outputs(outputs)
    order = torch.sort(stacked, dim=-1, descending=True, stable=True).indices
    votes = torch.zeros_like(stacked)
    votes.scatter_(-1, order[..., :1], alpha)
    votes.scatter_(-1, order[..., 1:2], beta)
    return votes.sum(dim=0)


RULES: dict[str, Callable[..., torch.Tensor]] = {"average": average, "noi": noi, "t1v": t1v, "t2v": t2v, "weighted": weighted}


def ensemble_scores(outputs: Outputs, rule: str = "t2v", **options: Any) -> torch.Tensor:
    """(N, C) scores of the rule named ``rule`` (``average``, ``noi``, ``t1v``, ``t2v`` or ``weighted``)."""
    if rule not in RULES:
        raise ConfigError(f"unknown voting rule {rule!r}; available: {', '.join(sorted(RULES))}")
    return RULES[rule](outputs, **options)


def ensemble_predict(outputs: Outputs, rule: str = "t2v", **options: Any) -> torch.Tensor:
    """(N,) predicted class indices of the rule named ``rule``."""
    return ensemble_scores(outputs, rule, **options).argmax(dim=-1)

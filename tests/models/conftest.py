"""Shared fixtures of the model tests: a FER2013 training slice and a few optimisation steps on it."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from openfer.losses import build_loss, logits_of


@pytest.fixture(scope="session")
def fer2013_training(fer2013_parsed):
    """The FER2013 ``Training`` split (skipped when the shared dataset is absent)."""
    return fer2013_parsed.data["Training"]


@pytest.fixture
def fer2013_batch(fer2013_training) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """``make(n, size, channels)``: the first ``n`` training faces, normalised, resized, and their labels."""

    def make(n: int = 32, size: int = 48, channels: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.from_numpy(fer2013_training.images[:n]).float().div(255).sub(0.5).div(0.25)[:, None]
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False) if size != images.shape[-1] else images
        return images.expand(-1, channels, -1, -1).contiguous(), torch.from_numpy(fer2013_training.labels[:n])

    return make


def train_steps(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, losses: dict[str, dict[str, Any]], steps: int = 5, lr: float = 0.01
) -> tuple[float, float]:
    """Optimise ``model`` (and the losses' own parameters) with SGD on one batch for ``steps`` steps.

    ``losses`` is a recipe's ``{name: {options, weight}}``. Returns the cross-entropy of the batch before the
    first step and after the last one (both in train mode).
    """
    torch.manual_seed(0)
    built = {name: build_loss(name, **{k: v for k, v in opts.items() if k != "weight"}) for name, opts in losses.items()}
    weights = {name: float(opts.get("weight", 1.0)) for name, opts in losses.items()}
    parameters = list(model.parameters()) + [p for loss in built.values() for p in loss.parameters()]
    optimizer = torch.optim.SGD(parameters, lr=lr, momentum=0.9)
    model.train()
    first = None
    for _ in range(steps):
        outputs = model(images)
        if first is None:
            first = F.cross_entropy(logits_of(outputs), labels).item()
        total = sum(weights[name] * loss(outputs, labels) for name, loss in built.items())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    with torch.no_grad():
        last = F.cross_entropy(logits_of(model(images)), labels).item()
    return first, last


def count_macs(build: Callable[[], nn.Module], input_size: tuple[int, int, int], train: bool = False) -> float:
    """Multiply-accumulates of one forward pass of ``build()`` on one image, counted on the meta device (no memory,
    no compute). ``FlopCounterMode`` counts a multiply-add as 2 FLOPs, so MACs are half its total."""
    from torch.utils.flop_counter import FlopCounterMode

    from openfer.models.layers import every_tap

    with torch.device("meta"):
        model = build().train(train)
        x = torch.empty(1, *input_size)
    with FlopCounterMode(display=False) as counter, every_tap():
        model(x)
    return counter.get_total_flops() / 2


@pytest.fixture
def macs() -> Callable[..., float]:
    """:func:`count_macs` for test modules (``conftest`` cannot be imported by name: tests/data has one too)."""
    return count_macs


@pytest.fixture
def optimise() -> Callable[..., tuple[float, float]]:
    """:func:`train_steps` for test modules."""
    return train_steps

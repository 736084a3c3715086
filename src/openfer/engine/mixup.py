"""Mixup (Zhang et al., ICLR 2018) and CutMix (Yun et al., ICCV 2019) of a training batch.

Mixup: ``x' = lam * x + (1 - lam) * x[perm]``, ``lam ~ Beta(alpha, alpha)``. CutMix pastes a box of
``x[perm]`` covering ``1 - lam`` of the image (``lam ~ Beta(cutmix_alpha, cutmix_alpha)``), and ``lam`` is then
the share of pixels kept. Each loss becomes ``lam * L(y) + (1 - lam) * L(y[perm])``. A batch is mixed with
probability ``prob``; with both alphas positive, mixup or CutMix is chosen with equal odds. All draws come from
the given ``torch.Generator``, so a resumed run mixes as an uninterrupted one would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from openfer.errors import ConfigError


@dataclass(frozen=True)
class MixOptions:
    """``model.mixup`` of a recipe: ``{alpha: 0.2, cutmix_alpha: 1.0, prob: 0.5}`` (an alpha of 0 turns that off)."""

    alpha: float = 0.2
    cutmix_alpha: float = 0.0
    prob: float = 1.0

    @classmethod
    def from_config(cls, options: dict[str, Any] | None) -> "MixOptions | None":
        if not options:
            return None
        unknown = set(options) - {"alpha", "cutmix_alpha", "prob"}
        if unknown:
            raise ConfigError(f"mixup: unknown option(s) {sorted(unknown)}; expected alpha, cutmix_alpha, prob")
        mix = cls(**{k: float(v) for k, v in options.items()})
        if mix.alpha < 0 or mix.cutmix_alpha < 0 or not 0 <= mix.prob <= 1 or mix.alpha == mix.cutmix_alpha == 0:
            raise ConfigError(f"mixup: {options}: expected alphas >= 0 (one positive) and prob in [0, 1]")
        return mix


def _beta(alpha: float, generator: torch.Generator) -> float:
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def mix_batch(
    x: torch.Tensor, targets: torch.Tensor, options: MixOptions, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor | None, float]:
    """``(mixed inputs, partner targets, lam)``; partner targets are ``None`` when the batch is left as it is."""
    apply, choice = torch.rand(2, generator=generator).tolist()
    if apply >= options.prob or len(x) < 2:
        return x, None, 1.0
    cutmix = options.cutmix_alpha > 0 and (options.alpha == 0 or choice < 0.5)
    lam = _beta(options.cutmix_alpha if cutmix else options.alpha, generator)
    perm = torch.randperm(len(x), generator=generator).to(x.device)
    if not cutmix:
        return lam * x + (1.0 - lam) * x[perm], targets[perm.to(targets.device)], lam
    height, width = x.shape[-2:]
    cut_h, cut_w = round(height * math.sqrt(1.0 - lam)), round(width * math.sqrt(1.0 - lam))
    cy, cx = (int(torch.randint(0, n, (1,), generator=generator)) for n in (height, width))
    top, bottom = max(cy - cut_h // 2, 0), min(cy - cut_h // 2 + cut_h, height)
    left, right = max(cx - cut_w // 2, 0), min(cx - cut_w // 2 + cut_w, width)
    mixed = x.clone()
    mixed[..., top:bottom, left:right] = x[perm][..., top:bottom, left:right]
    kept = 1.0 - (bottom - top) * (right - left) / (height * width)
    return mixed, targets[perm.to(targets.device)], kept

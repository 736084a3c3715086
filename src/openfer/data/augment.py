"""Batch-level augmentation on tensors: one affine warp per sample (flip, rotation, scale, shift),
brightness/contrast jitter and random erasing, all drawn from a seeded generator.

Working on whole batches keeps training free of per-image Python work, which matters on a 2-core CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class BatchAugment:
    """Augment a float batch (N, C, H, W) in [0, 1]; returns a batch of ``output_size``."""

    output_size: int = 48
    flip: float = 0.5
    rotation: float = 15.0
    scale: tuple[float, float] = (0.85, 1.15)
    shift: float = 0.1
    brightness: float = 0.3
    contrast: float = 0.3
    erase: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.2)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n = x.shape[0]
        g = generator

        def uniform(low: float, high: float) -> torch.Tensor:
            return torch.rand(n, generator=g) * (high - low) + low

        angle = uniform(-self.rotation, self.rotation) * math.pi / 180
        # Scale as a log-uniform zoom factor: > 1 zooms in (a smaller crop of the face).
        zoom = torch.exp(uniform(math.log(self.scale[0]), math.log(self.scale[1])))
        sign = torch.where(torch.rand(n, generator=g) < self.flip, -1.0, 1.0)
        tx, ty = uniform(-self.shift, self.shift) * 2, uniform(-self.shift, self.shift) * 2
        out = affine_warp(x, zoom, angle, tx, ty, sign, self.output_size)

        shape = (n, 1, 1, 1)
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        contrast = uniform(1 - self.contrast, 1 + self.contrast).view(shape).to(x.dtype)
        brightness = uniform(-self.brightness, self.brightness).view(shape).to(x.dtype) * 0.5
        out = ((out - mean) * contrast + mean + brightness).clamp(0, 1)

        if self.erase > 0:
            out = random_erase(out, self.erase, self.erase_area, g)
        return out


def affine_warp(
    x: torch.Tensor,
    zoom: torch.Tensor,
    angle: torch.Tensor,
    tx: torch.Tensor,
    ty: torch.Tensor,
    sign: torch.Tensor,
    output_size: int,
) -> torch.Tensor:
    """Warp each face of ``x`` (N, C, H, W) by its own zoom (> 1 zooms in), rotation (radians), shift
    (``affine_grid`` units: 2 is the whole width) and mirror (``sign`` -1), bilinear with border padding,
    to ``output_size``. The training augmentation draws these per face; the ``affine`` TTA fixes them."""
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos * sign, -sin, tx], 1), torch.stack([sin * sign, cos, ty], 1)], 1).to(x.dtype)
    grid = F.affine_grid(theta, [x.shape[0], x.shape[1], output_size, output_size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_erase(
    x: torch.Tensor,
    probability: float,
    area: tuple[float, float] = (0.02, 0.2),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random erasing (Zhong et al., 2020): fill one random rectangle per chosen sample with noise."""
    n, _, h, w = x.shape
    g = generator
    chosen = torch.rand(n, generator=g) < probability
    fraction = torch.rand(n, generator=g) * (area[1] - area[0]) + area[0]
    aspect = torch.exp(torch.rand(n, generator=g) * (math.log(3.3) - math.log(0.3)) + math.log(0.3))
    eh = (torch.sqrt(fraction * aspect) * h).clamp(1, h).long()
    ew = (torch.sqrt(fraction / aspect) * w).clamp(1, w).long()
    top = (torch.rand(n, generator=g) * (h - eh + 1).float()).long()
    left = (torch.rand(n, generator=g) * (w - ew + 1).float()).long()
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    mask = (
        (rows >= top.view(n, 1, 1)) & (rows < (top + eh).view(n, 1, 1))
        & (cols >= left.view(n, 1, 1)) & (cols < (left + ew).view(n, 1, 1))
        & chosen.view(n, 1, 1)
    ).unsqueeze(1)
    noise = torch.rand(x.shape, generator=g).to(x.dtype)
    return torch.where(mask, noise, x)

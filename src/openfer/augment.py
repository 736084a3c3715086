"""Views of faces, for training and for inference: the one home of the warp both use.

Training: :class:`BatchAugment`, batch-level augmentation on tensors: one affine warp per sample (flip,
rotation, scale, shift, a yaw-like horizontal squeeze), the degradations of faces cut from real photos
(downscaling, blur), brightness/contrast jitter and random erasing, all drawn from a seeded generator.
Working on whole batches keeps training free of per-image Python work, which matters on a 2-core CPU.

Inference: :func:`tta_views`, the test-time augmentation views (:data:`TTA_MODES`) whose probabilities
are averaged; the ``affine`` views are fixed warps of the kind the training augmentation draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from openfer.errors import ConfigError
from openfer.options import TTA_MODES

TENCROP_FRACTION = 0.9
#: The ``affine`` TTA views as (zoom, shift x, shift y) in affine_grid units (a shift of 0.08 moves the face
#: by 4 % of its width), each also mirrored; all inside the range the training augmentation draws.
AFFINE_VIEWS: tuple[tuple[float, float, float], ...] = (
    (1.0, 0.0, 0.0),
    (1.08, 0.0, 0.0),
    (0.93, 0.0, 0.0),
    (1.0, 0.08, 0.0),
    (1.0, -0.08, 0.0),
    (1.0, 0.0, 0.08),
    (1.0, 0.0, -0.08),
)
VIEWS_PER_FACE = {"none": 1, "flip": 2, "tencrop": 10, "affine": 2 * len(AFFINE_VIEWS)}


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
    #: Yaw-like warp: each face's width scaled by a factor drawn in [1 - squeeze, 1] (a head turned away
    #: looks narrower); 0 draws nothing.
    squeeze: float = 0.0
    #: Probability that a face is shrunk by a factor in ``downscale_range`` and enlarged back (the small,
    #: soft faces of group photos and video).
    downscale: float = 0.0
    downscale_range: tuple[float, float] = (0.25, 0.75)
    #: Probability of a Gaussian blur whose sigma (pixels of the output) is drawn in ``blur_sigma``.
    blur: float = 0.0
    blur_sigma: tuple[float, float] = (0.4, 1.2)

    def __post_init__(self) -> None:
        if not 0.0 <= self.squeeze < 1.0:
            raise ConfigError(f"augment.squeeze must be in [0, 1), got {self.squeeze}")
        for name in ("downscale", "blur"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"augment.{name} is a probability, got {getattr(self, name)}")
        low, high = self.downscale_range
        if not 0.0 < low <= high <= 1.0:
            raise ConfigError(f"augment.downscale_range must satisfy 0 < low <= high <= 1, got {self.downscale_range}")
        if not 0.0 < self.blur_sigma[0] <= self.blur_sigma[1]:
            raise ConfigError(f"augment.blur_sigma must satisfy 0 < low <= high, got {self.blur_sigma}")

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
        # Options off draw nothing, so recipes without them see the same random stream as before they existed.
        width = uniform(1 - self.squeeze, 1.0) if self.squeeze > 0 else None
        out = affine_warp(x, zoom, angle, tx, ty, sign, self.output_size, width=width)
        if self.downscale > 0:
            out = random_downscale(out, self.downscale, self.downscale_range, g)
        if self.blur > 0:
            out = random_blur(out, self.blur, self.blur_sigma, g)

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
    width: torch.Tensor | None = None,
) -> torch.Tensor:
    """Warp each face of ``x`` (N, C, H, W) by its own zoom (> 1 zooms in), rotation (radians), shift
    (``affine_grid`` units: 2 is the whole width) and mirror (``sign`` -1), bilinear with border padding,
    to ``output_size``; ``width`` (< 1) also narrows each face to that share of its width. The training
    augmentation draws these per face; the ``affine`` TTA fixes them."""
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    x_scale = sign if width is None else sign / width  # sampling x faster narrows the face
    theta = torch.stack([torch.stack([cos * x_scale, -sin, tx], 1), torch.stack([sin * x_scale, cos, ty], 1)], 1).to(x.dtype)
    grid = F.affine_grid(theta, [x.shape[0], x.shape[1], output_size, output_size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_downscale(
    x: torch.Tensor, probability: float, factors: tuple[float, float] = (0.25, 0.75), generator: torch.Generator | None = None
) -> torch.Tensor:
    """Shrink each chosen face of ``x`` (N, C, S, S) by its own factor in ``factors`` (area interpolation) and
    enlarge it back (bilinear): the detail a face of ``factor * S`` pixels holds."""
    n, size = x.shape[0], x.shape[-1]
    chosen = torch.rand(n, generator=generator) < probability
    sides = (torch.rand(n, generator=generator) * (factors[1] - factors[0]) + factors[0]).mul(size).round().clamp(2, size).long()
    out = x.clone()
    for side in sides[chosen].unique().tolist():
        rows = torch.nonzero(chosen & (sides == side)).flatten()
        small = F.interpolate(x[rows], size=(side, side), mode="area")
        out[rows] = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    return out


def random_blur(
    x: torch.Tensor, probability: float, sigmas: tuple[float, float] = (0.4, 1.2), generator: torch.Generator | None = None
) -> torch.Tensor:
    """Blur each chosen face of ``x`` (N, C, H, W) by a separable Gaussian of its own sigma in ``sigmas`` (pixels)."""
    n, c, h, w = x.shape
    chosen = torch.rand(n, generator=generator) < probability
    sigma = torch.rand(n, generator=generator) * (sigmas[1] - sigmas[0]) + sigmas[0]
    rows = torch.nonzero(chosen).flatten()
    if len(rows) == 0:
        return x
    radius = max(1, math.ceil(3 * sigmas[1]))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernels = torch.exp(-0.5 * (offsets[None, :] / sigma[rows, None]) ** 2)
    kernels = (kernels / kernels.sum(1, keepdim=True)).to(x.dtype).repeat_interleave(c, 0)  # (k * C, K)
    faces = x[rows].reshape(1, len(rows) * c, h, w)
    with torch.autocast(x.device.type, enabled=False):  # training runs under bf16 autocast; blur in the batch's dtype
        faces = F.conv2d(F.pad(faces, (radius, radius, 0, 0), mode="replicate"), kernels[:, None, None, :], groups=len(rows) * c)
        faces = F.conv2d(F.pad(faces, (0, 0, radius, radius), mode="replicate"), kernels[:, None, :, None], groups=len(rows) * c)
    out = x.clone()
    out[rows] = faces.reshape(len(rows), c, h, w)
    return out


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


def affine_view(x: torch.Tensor, zoom: float = 1.0, dx: float = 0.0, dy: float = 0.0, degrees: float = 0.0) -> torch.Tensor:
    """``x`` (N, C, S, S) warped by the training augmentation's own warp (:func:`affine_warp`), the same for
    every face: ``zoom`` > 1 zooms in, ``dx``/``dy`` shift in affine_grid units, ``degrees`` rotates."""
    n = x.shape[0]

    def same(value: float) -> torch.Tensor:
        return torch.full((n,), float(value))

    return affine_warp(x, same(zoom), same(math.radians(degrees)), same(dx), same(dy), same(1.0), x.shape[-1])


def tta_views(x: torch.Tensor, tta: str) -> list[torch.Tensor]:
    """The views of a preprocessed batch (N, C, S, S) whose probabilities are averaged.

    ``none``: the face as it is; ``flip``: the face and its mirror image; ``tencrop``: the four corner
    crops and the centre crop of side ``round(0.9 * S)``, each resized back to S, and their mirror
    images (a 1.11x zoom plus a shift of up to 5 %, inside the range the training augmentation draws);
    ``affine``: the face warped as the training augmentation warps faces (:data:`AFFINE_VIEWS`: as it is,
    zoomed in and out, shifted four ways), and the mirror image of each.
    """
    if tta not in TTA_MODES:
        raise ConfigError(f"unknown tta {tta!r}; available: {', '.join(TTA_MODES)}")
    if tta == "none":
        return [x]
    if tta == "flip":
        return [x, x.flip(-1)]
    if tta == "affine":
        views = [x if view == (1.0, 0.0, 0.0) else affine_view(x, *view) for view in AFFINE_VIEWS]
        return views + [view.flip(-1) for view in views]
    height, width = x.shape[-2:]
    crop_h, crop_w = round(height * TENCROP_FRACTION), round(width * TENCROP_FRACTION)
    corners = [(0, 0), (0, width - crop_w), (height - crop_h, 0), (height - crop_h, width - crop_w)]
    centre = ((height - crop_h) // 2, (width - crop_w) // 2)
    crops = [
        F.interpolate(x[..., top : top + crop_h, left : left + crop_w], size=(height, width), mode="bilinear", align_corners=False)
        for top, left in corners + [centre]
    ]
    return crops + [crop.flip(-1) for crop in crops]

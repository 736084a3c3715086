"""The views of faces: the TTA views (affine warps, ten crops) that share the training augmentation's warp, and the
training augmentation's real-photo degradations (squeeze, downscale, blur)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from openfer.augment import AFFINE_VIEWS, BatchAugment, affine_view, affine_warp, random_blur, random_downscale, tta_views
from openfer.errors import ConfigError


def test_affine_views_move_the_face_as_asked() -> None:
    x = torch.zeros(1, 1, 48, 48)
    x[..., 20:28, 20:28] = 1.0  # a bright square in the middle
    np.testing.assert_allclose(affine_view(x), x, atol=1e-6)  # the identity warp changes nothing
    shifted = affine_view(x, dx=1 / 6)  # sample 1/12 of the width (4 px) to the right: content moves left
    assert torch.equal(shifted[..., 20:28, 16:24], x[..., 20:28, 20:28])
    zoomed = affine_view(x, zoom=2.0)  # zoom in 2x: the square doubles in size around the centre
    assert zoomed[..., 17:31, 17:31].min() > 0.99 and zoomed[..., :15, :].max() < 1e-6
    views = tta_views(x, "affine")
    assert len(views) == 2 * len(AFFINE_VIEWS) and all(v.shape == x.shape for v in views)
    assert torch.equal(views[len(AFFINE_VIEWS)], x.flip(-1))  # the second half mirrors the first


def test_tencrop_views_are_corner_and_centre_crops_and_their_mirrors() -> None:
    x = torch.linspace(0, 1, 48).repeat(2, 1, 48, 1)  # brightness rises left to right
    views = tta_views(x, "tencrop")
    assert len(views) == 10 and all(v.shape == x.shape for v in views)
    top_left, top_right, _, _, centre = (v.mean().item() for v in views[:5])
    assert top_left < centre < top_right
    for crop, mirror in zip(views[:5], views[5:]):
        assert torch.equal(mirror, crop.flip(-1))


def test_squeeze_narrows_the_face_to_the_share_of_its_width() -> None:
    x = torch.zeros(1, 1, 48, 48)
    x[..., 12:36, 12:36] = 1.0  # a 24 px square
    one = torch.ones(1)
    out = affine_warp(x, one, torch.zeros(1), torch.zeros(1), torch.zeros(1), one, 48, width=torch.full((1,), 0.5))
    columns = (out[0, 0] > 0.5).any(0).sum().item()
    rows = (out[0, 0] > 0.5).any(1).sum().item()
    assert columns == 12 and rows == 24
    assert torch.equal(affine_warp(x, one, torch.zeros(1), torch.zeros(1), torch.zeros(1), one, 48, width=one), affine_warp(x, one, *[torch.zeros(1)] * 3, one, 48))


def test_downscale_removes_the_detail_a_small_face_cannot_hold() -> None:
    checker = ((torch.arange(48)[:, None] + torch.arange(48)[None, :]) % 2).float().expand(3, 1, 48, 48).clone()
    g = torch.Generator().manual_seed(0)
    out = random_downscale(checker, 1.0, (0.25, 0.25), g)
    assert out.shape == checker.shape
    assert torch.allclose(out, torch.full_like(out, 0.5), atol=1e-5)  # 1-pixel detail averaged away at 12 px
    assert torch.equal(random_downscale(checker, 0.0, (0.25, 0.25), g), checker)


def test_blur_spreads_an_impulse_by_its_sigma() -> None:
    x = torch.zeros(2, 1, 33, 33)
    x[:, :, 16, 16] = 1.0
    g = torch.Generator().manual_seed(0)
    out = random_blur(x, 1.0, (1.0, 1.0), g)
    assert torch.allclose(out.sum(dim=(1, 2, 3)), torch.ones(2), atol=1e-5)
    offsets = (torch.arange(33) - 16.0) ** 2
    variance = (out[0, 0].sum(0) * offsets).sum()
    assert abs(variance.item() - 1.0) < 0.02  # the horizontal spread is sigma squared
    assert torch.equal(random_blur(x, 0.0, (1.0, 1.0), g), x)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as training calls it
        blurred = random_blur(x, 1.0, (1.0, 1.0), torch.Generator().manual_seed(0))
    assert blurred.dtype == x.dtype and torch.allclose(blurred, out, atol=1e-6)


def test_real_photo_degradations_change_only_the_faces_chosen() -> None:
    torch.manual_seed(0)
    x = torch.rand(64, 1, 48, 48)
    plain = BatchAugment(output_size=48)(x, torch.Generator().manual_seed(1))
    degraded = BatchAugment(output_size=48, downscale=0.5, blur=0.5, squeeze=0.2)(x, torch.Generator().manual_seed(1))
    assert plain.shape == degraded.shape == (64, 1, 48, 48)
    assert 0.05 < (degraded - plain).abs().amax(dim=(1, 2, 3)).gt(1e-6).float().mean() <= 1.0
    with pytest.raises(ConfigError, match="augment.blur is a probability"):
        BatchAugment(blur=2.0)
    with pytest.raises(ConfigError, match="augment.squeeze"):
        BatchAugment(squeeze=1.0)
    with pytest.raises(ConfigError, match="downscale_range"):
        BatchAugment(downscale=0.5, downscale_range=(0.8, 0.2))

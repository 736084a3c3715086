"""The views of faces: the TTA views (affine warps, ten crops) that share the training augmentation's warp."""

from __future__ import annotations

import numpy as np
import torch

from openfer.augment import AFFINE_VIEWS, affine_view, tta_views


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

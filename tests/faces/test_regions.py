"""DPSAN region boxes and crops: the three schemes and the two cutters."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from openfer.faces.regions import (
    LEFT_EYE_POINTS,
    LEFT_MOUTH_POINTS,
    RIGHT_EYE_POINTS,
    RIGHT_MOUTH_POINTS,
    cut_regions,
    cut_regions_batch,
    fixed_four_regions,
    landmark_regions,
    quadrants,
)


def test_fixed_regions_scale_with_the_face() -> None:
    assert fixed_four_regions(96) == [(8, 16, 48, 52), (48, 16, 88, 52), (20, 56, 48, 92), (48, 56, 76, 92)]
    assert fixed_four_regions(48) == [(4, 8, 24, 26), (24, 8, 44, 26), (10, 28, 24, 46), (24, 28, 38, 46)]


def test_quadrants() -> None:
    assert quadrants(96) == [(0, 0, 48, 48), (48, 0, 96, 48), (0, 48, 48, 96), (48, 48, 96, 96)]


def test_landmark_regions_use_42_of_the_68_points() -> None:
    # DPSAN paper, §3.2: 22 eye points (with brows) and 20 mouth points, the halves sharing 4 mid-line points.
    groups = (LEFT_EYE_POINTS, RIGHT_EYE_POINTS, LEFT_MOUTH_POINTS, RIGHT_MOUTH_POINTS)
    assert [len(g) for g in groups] == [11, 11, 12, 12]
    assert len(set().union(*groups)) == 42
    assert set(LEFT_MOUTH_POINTS) & set(RIGHT_MOUTH_POINTS) == {51, 57, 62, 66}
    # Point i at (i, 2 i): each box spans its group's smallest to largest index.
    points = np.stack([np.arange(68), 2 * np.arange(68)], axis=1).astype(float)
    assert landmark_regions(points) == [(17, 34, 41, 82), (22, 44, 47, 94), (48, 96, 67, 134), (51, 102, 66, 132)]
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        landmark_regions(points[:5])


def test_cut_regions_numpy_and_batch_agree_where_no_resize_is_needed() -> None:
    image = np.arange(96 * 96, dtype=np.uint16).reshape(96, 96).astype(np.float32)
    boxes = quadrants(96)
    crops = cut_regions(image, boxes, 48)
    assert [c.shape for c in crops] == [(48, 48)] * 4
    assert np.array_equal(crops[3], image[48:, 48:])
    batch = cut_regions_batch(torch.from_numpy(image)[None, None].repeat(2, 1, 1, 1), boxes, 48)
    assert batch.shape == (2, 4, 1, 48, 48)
    assert torch.equal(batch[1, 2, 0], torch.from_numpy(image[48:, :48]))
    # Enlarged crops (the paper's "multi-scale" local inputs) and clipping at the border.
    assert cut_regions(image.astype(np.uint8), [(90, 90, 120, 120)], 96)[0].shape == (96, 96)
    with pytest.raises(ValueError, match="outside"):
        cut_regions(image, [(100, 100, 120, 120)], 96)

"""Facial region boxes for local-path networks (DPSAN, Zhu et al., Future Internet 2022, §3.2 and Fig. 7).

Three schemes, each giving four boxes ``(x0, y0, x1, y1)`` in pixels (``x1``/``y1`` exclusive), ordered
left eye, right eye, left mouth half, right mouth half ("left" = the image's left):

* :func:`fixed_four_regions` – four rectangles at fixed positions of an aligned face (the paper's choice);
* :func:`quadrants` – the four equal quadrants of the face;
* :func:`landmark_regions` – boxes around 42 of the 68 iBUG landmarks (eyes with brows, mouth halves).

:func:`cut_regions` cuts and resizes the boxes from one image (NumPy); :func:`cut_regions_batch` does
the same for a batch of tensors with shared boxes (used inside the DPSAN model).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from openfer.imageio import resize

#: A region by its corners (x0, y0, x1, y1) in pixels; a detection's box is (x, y, w, h) instead.
Corners = tuple[int, int, int, int]

#: The size the fixed boxes are defined on.
REFERENCE_FACE_SIZE = 96
# The DPSAN paper gives no coordinates; these defaults (docs/models/dpsan.md) cover the eyes with brows and the
# two mouth halves of a 96x96 aligned face: L-eye, R-eye, L-mouth, R-mouth.
_FIXED_BOXES_96: tuple[Corners, ...] = ((8, 16, 48, 52), (48, 16, 88, 52), (20, 56, 48, 92), (48, 56, 76, 92))

# iBUG-68 indices (0-based). Eyes: 5 brow + 6 eye points per side (11 each, 22 in all). Mouth: points 48-67
# split at the mid-line points 51, 57, 62, 66 (shared), 12 points per half (20 in all); 22 + 20 = 42.
LEFT_EYE_POINTS: tuple[int, ...] = (*range(17, 22), *range(36, 42))
RIGHT_EYE_POINTS: tuple[int, ...] = (*range(22, 27), *range(42, 48))
LEFT_MOUTH_POINTS: tuple[int, ...] = (48, 49, 50, 51, 57, 58, 59, 60, 61, 62, 66, 67)
RIGHT_MOUTH_POINTS: tuple[int, ...] = (51, 52, 53, 54, 55, 56, 57, 62, 63, 64, 65, 66)


def fixed_four_regions(face_size: int = REFERENCE_FACE_SIZE) -> list[Corners]:
    """The fixed eye and mouth-half boxes, scaled from the 96x96 defaults to a ``face_size`` square face."""
    scale = face_size / REFERENCE_FACE_SIZE
    return [tuple(round(v * scale) for v in box) for box in _FIXED_BOXES_96]  # type: ignore[misc]


def quadrants(face_size: int = REFERENCE_FACE_SIZE) -> list[Corners]:
    """The four quadrants (top-left, top-right, bottom-left, bottom-right) of a square face."""
    half = face_size // 2
    return [(0, 0, half, half), (half, 0, face_size, half), (0, half, half, face_size), (half, half, face_size, face_size)]


def landmark_regions(landmarks68: np.ndarray | Sequence[Sequence[float]]) -> list[Corners]:
    """Boxes spanning the left-eye, right-eye, left-mouth and right-mouth landmarks of 68 (x, y) points."""
    points = np.asarray(landmarks68, dtype=np.float64)
    if points.shape != (68, 2):
        raise ValueError(f"landmarks68 must have shape (68, 2), got {points.shape}")
    boxes = []
    for indices in (LEFT_EYE_POINTS, RIGHT_EYE_POINTS, LEFT_MOUTH_POINTS, RIGHT_MOUTH_POINTS):
        group = points[list(indices)]
        x0, y0 = np.floor(group.min(0)).astype(int)
        x1, y1 = np.ceil(group.max(0)).astype(int)
        boxes.append((int(x0), int(y0), int(max(x1, x0 + 1)), int(max(y1, y0 + 1))))
    return boxes


def _clip(box: Sequence[int], width: int, height: int) -> Corners:
    """``box`` clipped to a ``width`` x ``height`` image; ValueError when nothing of it is inside."""
    x0, y0, x1, y1 = (int(v) for v in box)
    clipped = (max(0, x0), max(0, y0), min(width, x1), min(height, y1))
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise ValueError(f"box {tuple(box)} lies outside the {width}x{height} image")
    return clipped


def cut_regions(image: np.ndarray, boxes: Sequence[Sequence[int]], size: int) -> list[np.ndarray]:
    """Cut each box from ``image`` (H x W or H x W x C) and resize it to ``size`` x ``size``."""
    height, width = image.shape[:2]
    crops = []
    for box in boxes:
        x0, y0, x1, y1 = _clip(box, width, height)
        crops.append(resize(np.ascontiguousarray(image[y0:y1, x0:x1]), size))
    return crops


def cut_regions_batch(images: torch.Tensor, boxes: Sequence[Sequence[int]], size: int | tuple[int, int]) -> torch.Tensor:
    """Cut the same boxes from every image of (N, C, H, W) and resize them bilinearly to ``size`` (int: square;
    tuple: (height, width)): (N, len(boxes), C, height, width)."""
    height, width = images.shape[-2:]
    h, w = (size, size) if isinstance(size, int) else size
    crops = []
    for box in boxes:
        x0, y0, x1, y1 = _clip(box, width, height)
        crops.append(F.interpolate(images[:, :, y0:y1, x0:x1], size=(h, w), mode="bilinear", align_corners=False))
    return torch.stack(crops, 1)

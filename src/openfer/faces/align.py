"""Face crops for the classifier: a square around the detected box, turned upright by the eyes when known.

This is the one place recognition cuts faces out of images.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from openfer.faces.detection import Detection

# iBUG 68-point layout (0-based): the six points around each eye.
_EYE_POINTS_68 = (slice(36, 42), slice(42, 48))


def eye_centres(landmarks: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(image-left eye, image-right eye) centres from 68 iBUG points or 5 points (eyes first); None otherwise."""
    if landmarks is None:
        return None
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape == (68, 2):
        first, second = (points[s].mean(axis=0) for s in _EYE_POINTS_68)
    elif points.shape == (5, 2):
        first, second = points[0], points[1]
    else:
        return None
    return (first, second) if first[0] <= second[0] else (second, first)


def face_crop(image: np.ndarray, detection: Detection, margin: float = 0.1, align: bool = True) -> np.ndarray:
    """The square crop of side ``max(w, h) * (1 + 2 * margin)`` centred on the box.

    With ``align`` and eye landmarks the crop is rotated so the eyes lie level. Parts of the square
    outside the image repeat the border pixels. Returns an array of the image's channels (S x S [x 3]).
    """
    matrix, side = crop_matrix(detection, margin, align)
    return cv2.warpAffine(image, matrix, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def crop_matrix(detection: Detection, margin: float = 0.1, align: bool = True) -> tuple[np.ndarray, int]:
    """``(matrix, side)`` of :func:`face_crop`: the 2 x 3 affine map from image pixels to crop pixels, and the crop's side."""
    x, y, w, h = detection.box
    side = max(1, round(max(w, h) * (1 + 2 * margin)))
    centre_x, centre_y = x + w / 2, y + h / 2
    angle = 0.0
    eyes = eye_centres(detection.landmarks) if align else None
    if eyes is not None:
        (left_x, left_y), (right_x, right_y) = eyes
        angle = math.degrees(math.atan2(right_y - left_y, right_x - left_x))
    # Rotate about the box centre, then move that centre to the middle of the output square.
    matrix = cv2.getRotationMatrix2D((centre_x, centre_y), angle, 1.0)
    matrix[:, 2] += (side / 2 - centre_x, side / 2 - centre_y)
    return matrix, side

"""Face crops: square with a margin, padded at the border, turned upright by the eyes."""

from __future__ import annotations

import math

import cv2
import numpy as np

from openfer.faces import Detection, eye_centres, face_crop


def test_crop_is_a_square_around_the_box_with_the_margin() -> None:
    image = np.zeros((200, 300, 3), np.uint8)
    image[50:150, 100:180] = 255  # the "face": 80 wide, 100 tall
    crop = face_crop(image, Detection((100, 50, 80, 100), 1.0), margin=0.1)
    assert crop.shape == (120, 120, 3)
    assert crop[10:110, 20:100].min() == 255  # the box sits in the middle
    assert crop[:, :15].max() == 0 and crop[:, 105:].max() == 0


def test_crop_past_the_border_repeats_edge_pixels() -> None:
    image = np.full((50, 50), 7, np.uint8)
    crop = face_crop(image, Detection((0, 0, 20, 20), 1.0), margin=0.5)
    assert crop.shape == (40, 40) and (crop == 7).all()


def test_eye_centres_from_68_and_5_points() -> None:
    points68 = np.zeros((68, 2))
    points68[36:42] = (60, 40)
    points68[42:48] = (20, 42)
    left, right = eye_centres(points68)
    assert tuple(left) == (20, 42) and tuple(right) == (60, 40)
    five = np.array([[10, 10], [30, 12], [20, 20], [12, 30], [28, 30]], float)
    assert [tuple(p) for p in eye_centres(five)] == [(10, 10), (30, 12)]
    assert eye_centres(None) is None and eye_centres(np.zeros((3, 2))) is None


def test_alignment_levels_the_eyes() -> None:
    image = np.zeros((200, 200), np.uint8)
    angle = math.radians(20)
    centre = np.array([100.0, 100.0])
    offset = 30 * np.array([math.cos(angle), math.sin(angle)])
    eyes = np.array([centre - offset, centre + offset])
    for x, y in eyes:
        cv2.circle(image, (round(x), round(y)), 4, 255, -1)
    landmarks = np.vstack([eyes, [[100, 120], [90, 140], [110, 140]]])
    detection = Detection((60, 60, 80, 80), 1.0, landmarks)
    aligned = face_crop(image, detection, margin=0.0, align=True)
    plain = face_crop(image, detection, margin=0.0, align=False)

    def dot_rows(crop: np.ndarray) -> tuple[float, float]:
        ys, xs = np.nonzero(crop > 128)
        left, right = xs < crop.shape[1] / 2, xs >= crop.shape[1] / 2
        return ys[left].mean(), ys[right].mean()

    left_y, right_y = dot_rows(aligned)
    assert abs(left_y - right_y) < 1.5
    left_y, right_y = dot_rows(plain)
    assert right_y - left_y > 15

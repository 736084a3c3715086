"""Labels on annotated images: inside the image, never on top of one another, beside their face when there is room."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from openfer.recognize.results import Results, label_placements


def assert_inside_and_apart(rectangles: list[tuple[int, int, int, int]], width: int, height: int) -> None:
    for x, y, w, h in rectangles:
        assert 0 <= x and 0 <= y and x + w <= width and y + h <= height, (x, y, w, h)
    for (ax, ay, aw, ah), (bx, by, bw, bh) in combinations(rectangles, 2):
        assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay, ((ax, ay, aw, ah), (bx, by, bw, bh))


def test_a_label_sits_just_above_its_face_when_there_is_room() -> None:
    assert label_placements([(50, 60, 40, 40)], [(70, 14)], (200, 200)) == [(50, 46, 70, 14)]


def test_labels_of_faces_at_the_edges_are_pulled_inside_the_image() -> None:
    boxes = [(0, 0, 30, 30), (180, 170, 20, 30), (-5, 100, 30, 30)]
    placed = label_placements(boxes, [(90, 16)] * 3, (200, 200))
    assert_inside_and_apart(placed, 200, 200)


def test_a_crowd_of_small_touching_faces_gets_labels_that_never_overlap() -> None:
    # 8 x 10 faces 12 px apart, each label twice as wide as its face: the labels cover half the image
    boxes = [(x, y, 28, 28) for y in range(0, 300, 40) for x in range(0, 400, 40)]
    placed = label_placements(boxes, [(60, 12)] * len(boxes), (400, 300))
    assert len(placed) == len(boxes)
    assert_inside_and_apart(placed, 400, 300)


def test_the_24_face_photo_gets_its_labels_inside_and_apart(shared_photos: Path, fake_model) -> None:
    from openfer.recognize import Recognizer

    (result,) = Recognizer(fake_model, "auto")(shared_photos / "bald_guys.jpg")
    if len(result) < 20:
        pytest.skip(f"the installed detector finds {len(result)} faces on bald_guys.jpg; this test needs a crowd")
    height, width = result.image.shape[:2]
    import cv2

    thickness, scale = max(1, round(min(height, width) / 300)), max(0.4, min(height, width) / 900)
    sizes = []
    for label, row in zip(result.labels, result.probabilities):
        (w, h), baseline = cv2.getTextSize(f"{label} {row.max():.2f}", cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        sizes.append((w + 2, h + baseline + 2))
    assert_inside_and_apart(label_placements(result.boxes, sizes, (width, height)), width, height)
    drawn = result.plot()
    assert drawn.shape == result.image.shape and not np.array_equal(drawn, result.image)


def test_plot_draws_every_label_inside_a_small_image() -> None:
    from openfer.faces import Detection

    classes = ("angry", "happy")
    detections = [Detection((0, 0, 10, 10), 0.9), Detection((20, 20, 10, 10), 0.8)]
    result = Results("tiny.png", classes, detections, np.array([[0.2, 0.8], [0.7, 0.3]]), image=np.zeros((40, 60, 3), np.uint8))
    drawn = result.plot()
    assert drawn.shape == (40, 60, 3) and drawn.any()

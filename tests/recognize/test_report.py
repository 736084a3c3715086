"""Outputs users can trust: repeated and same-named videos, gaps in timelines, nothing half-written when
nothing was read, and records streamed to stdout."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from openfer.recognize import Recognizer, to_dataframe
from openfer.recognize.outputs import plot_timeline


def write_video(path: Path, brightness: list[int], size: int = 64) -> Path:
    """An MP4 at 10 fps with one frame per brightness (0: black, no face for the centre detector)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (size, size))
    for value in brightness:
        writer.write(np.full((size, size, 3), value, np.uint8))
    writer.release()
    return path


def frame_count(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    return count


def test_a_video_given_twice_is_two_sources_with_their_own_outputs(tmp_path: Path, fake_model, detector) -> None:
    video = write_video(tmp_path / "clip.mp4", [60, 90, 120, 150, 180])
    out = tmp_path / "out"
    report = Recognizer(fake_model, detector).run([video, video], out / "faces.csv", save_dir=out / "annotated", summary_dir=out / "summary", verbose=0)
    assert report.exit_status == 0 and report.frames == {str(video): 5, f"{video}#2": 5}
    assert frame_count(out / "annotated" / "clip.mp4") == frame_count(out / "annotated" / "clip-2.mp4") == 5
    summary = pd.read_csv(out / "summary" / "summary.csv")
    assert summary["source"].tolist() == [str(video), f"{video}#2"] and summary["frames"].tolist() == [5, 5]
    assert sorted(p.name for p in (out / "summary").glob("*.png")) == ["clip-2.timeline.png", "clip.timeline.png"]
    records = pd.read_csv(out / "faces.csv")
    assert records.groupby("source").size().to_dict() == {str(video): 5, f"{video}#2": 5}


def test_same_named_videos_in_two_folders_keep_their_own_timelines(tmp_path: Path, fake_model, detector) -> None:
    first = write_video(tmp_path / "a" / "clip.mp4", [60, 90, 120])
    second = write_video(tmp_path / "b" / "clip.mp4", [200, 220, 240])
    summary_dir = tmp_path / "summary"
    report = Recognizer(fake_model, detector).run([first, second], summary_dir=summary_dir, verbose=0)
    timelines = sorted(summary_dir.glob("*.timeline.png"))
    assert [p.name for p in timelines] == ["clip-2.timeline.png", "clip.timeline.png"]
    assert timelines[0].read_bytes() != timelines[1].read_bytes()  # each plots its own video (titled by its path)
    assert set(report.summary["source"]) == {str(first), str(second)}


def test_frames_without_a_face_are_gaps_in_the_timeline(tmp_path: Path, fake_model, detector) -> None:
    video = write_video(tmp_path / "clip.mp4", [120, 0, 0, 130, 140, 0])
    results = Recognizer(fake_model, detector)(video)
    table = to_dataframe(results)
    sampled = [(r.frame, r.time) for r in results]
    timeline = table.fer.timeline(str(video), sampled)
    assert timeline["frame"].tolist() == [0, 1, 2, 3, 4, 5]
    assert timeline["label"].isna().tolist() == [False, True, True, False, False, True]
    assert timeline.loc[timeline["label"].isna(), list(fake_model.classes)].isna().all().all()
    assert table.fer.timeline(str(video))["frame"].tolist() == [0, 3, 4]  # without the sampled frames: faces only
    path = plot_timeline(table, str(video), tmp_path / "clip.timeline.png", frames=sampled)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_when_no_source_is_read_nothing_is_left_and_the_status_says_so(tmp_path: Path, fake_model, detector, capsys) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    out = tmp_path / "out"
    report = Recognizer(fake_model, detector).run(
        [tmp_path / "empty.jpg", tmp_path / "missing.mp4"], out / "faces.csv", save_dir=out / "annotated", summary_dir=out / "summary"
    )
    assert report.exit_status == 2 and report.files == []
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [tmp_path / "empty.jpg"]  # no records file, no temporary
    assert "0 sources read" in capsys.readouterr().err


def test_records_to_stdout_leave_every_message_on_stderr(tmp_path: Path, fake_model, detector, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    images = [np.full((40, 40, 3), 100, np.uint8), np.zeros((40, 40, 3), np.uint8), np.full((50, 50, 3), 200, np.uint8)]
    report = Recognizer(fake_model, detector).run(images, "-", format="jsonl", verbose=2)
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == report.faces == 2 and all(set(r) >= {"box", "detector_score", "label", "label_probability"} for r in records)
    assert "records on stdout" in err and "<array>: 1 faces" in err
    assert not (tmp_path / "-").exists()


def test_predict_draws_a_progress_bar_on_a_terminal_but_not_when_quiet_or_streaming(fake_model, detector, monkeypatch) -> None:
    import io
    import sys

    class FakeTerminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    recognizer = Recognizer(fake_model, detector)
    images = [np.full((40, 40, 3), 100, np.uint8)] * 3
    for verbose, output, drawn in ((2, None, True), (1, None, False), (2, "-", False)):  # verbose 1 is --quiet
        err = FakeTerminal()
        monkeypatch.setattr(sys, "stdout", FakeTerminal())
        monkeypatch.setattr(sys, "stderr", err)
        recognizer.run(images, output, format="jsonl", verbose=verbose)
        assert ("images/frames" in err.getvalue()) == drawn, (verbose, output)

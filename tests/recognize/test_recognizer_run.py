"""``Recognizer.run`` and its :class:`Report`: every output ``openfer predict`` writes, from one Python call."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from openfer.cli import main
from openfer.errors import ConfigError
from openfer.recognize import Recognizer


def write_video(path: Path, frames: int = 6, size: int = 64) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (size, size))
    for i in range(frames):
        writer.write(np.full((size, size, 3), 40 + 30 * i, np.uint8))
    writer.release()
    return path


def files_under(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_run_writes_the_files_the_cli_writes_for_the_same_sources(
    mixed_folder: Path, shared_photos: Path, random_model_file: Path, tmp_path: Path, capsys
) -> None:
    sources = [str(mixed_folder / "good.jpg"), str(mixed_folder / "empty.jpg"), str(shared_photos / "short_hamilton_clip.mp4")]
    cli, python = tmp_path / "cli", tmp_path / "python"
    status = main([
        "predict", *sources, "--stride", "100", "--model", str(random_model_file), "--backend", "torch", "--detector", "haar",
        "--output", str(cli / "faces.csv"), "--save-annotated", str(cli / "annotated"), "--summary-dir", str(cli / "summary"),
    ])  # fmt: skip
    printed_by_cli = capsys.readouterr().out
    recognizer = Recognizer(str(random_model_file), "haar", backend="torch")
    report = recognizer.run(sources, python / "faces.csv", save_dir=python / "annotated", summary_dir=python / "summary", stride=100, verbose=2)
    assert report.exit_status == status == 1 and report.failed == [str(mixed_folder / "empty.jpg")] and len(report.read) == 2
    assert capsys.readouterr().out == printed_by_cli
    written_by_cli, written = files_under(cli), files_under(python)
    assert sorted(written) == sorted(written_by_cli) == sorted(p.relative_to(python).as_posix() for p in report.files)
    assert set(written) == {"faces.csv", "annotated/good.jpg", "annotated/short_hamilton_clip.mp4", "summary/summary.csv",
                            "summary/tracks.csv", "summary/segments.csv", "summary/short_hamilton_clip.timeline.png"}
    for name, data in written.items():
        if not name.endswith(".mp4"):  # an MP4 container records when it was written
            assert data == written_by_cli[name], name
    assert report.summary["frames"].tolist() == [3]


def test_run_writes_records_annotated_video_summary_and_timeline(tmp_path: Path, fake_model, detector, capsys) -> None:
    video = write_video(tmp_path / "clip.mp4")
    out = tmp_path / "out"
    report = Recognizer(fake_model, detector).run([video, np.zeros((32, 32, 3), np.uint8)], out / "faces.jsonl", save_dir=out / "annotated", summary_dir=out / "summary", verbose=0)
    assert capsys.readouterr() == ("", "")  # verbose=0 prints nothing
    assert report.exit_status == 0 and report.faces == 6 and report.frames == {str(video): 6}
    assert len((out / "faces.jsonl").read_text().splitlines()) == 6
    capture = cv2.VideoCapture(str(out / "annotated" / "clip.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    capture.release()
    summary = pd.read_csv(out / "summary" / "summary.csv")
    assert summary["frames"].tolist() == [6] and summary["frames_with_faces"].tolist() == [6]
    assert summary["dominant"].iloc[0] == report.summary["dominant"].iloc[0] in fake_model.classes
    assert (out / "summary" / "clip.timeline.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "annotated" / "array.png").is_file()  # an array source is saved under its name
    umask = os.umask(0)
    os.umask(umask)
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in report.files} == {p.name: oct(0o666 & ~umask) for p in report.files}


def test_a_failing_run_leaves_no_output_and_no_temporary_file(tmp_path: Path, fake_model, detector) -> None:
    video = write_video(tmp_path / "clip.mp4")
    calls = []

    class FailsOnThirdBatch(type(fake_model)):
        def predict_proba(self, faces):
            calls.append(len(faces))
            if len(calls) == 3:
                raise RuntimeError("model crashed")
            return super().predict_proba(faces)

    out = tmp_path / "out"
    recognizer = Recognizer(FailsOnThirdBatch(), detector, max_frames=2)
    with pytest.raises(RuntimeError, match="model crashed"):
        recognizer.run(video, out / "faces.csv", save_dir=out / "annotated", summary_dir=out / "summary", verbose=0)
    assert len(calls) == 3 and [p for p in out.rglob("*") if p.is_file()] == []


def test_bad_run_options_are_config_errors_before_any_file_is_made(tmp_path: Path, fake_model, detector, monkeypatch) -> None:
    recognizer = Recognizer(fake_model, detector)
    with pytest.raises(ConfigError, match="stride"):
        recognizer.run(tmp_path, tmp_path / "out" / "faces.csv", stride=0)
    monkeypatch.setattr("openfer.recognize.live.display_problem", lambda: "no display")
    with pytest.raises(ConfigError, match="live window: no display"):
        recognizer.run(0, tmp_path / "out" / "faces.csv", show=True)
    assert not (tmp_path / "out").exists()

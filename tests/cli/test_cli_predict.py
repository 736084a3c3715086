"""``openfer predict``: outputs, messages and exit status on good, mixed and bad inputs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from openfer.cli import main


@pytest.fixture
def run_predict(random_model_file: Path, capsys):
    """Run ``openfer predict`` with the random model and the Haar detector; returns (status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        status = main(["predict", *args, "--model", str(random_model_file), "--backend", "torch", "--detector", "haar"])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def test_mixed_folder_names_each_bad_file_writes_records_and_exits_1(mixed_folder: Path, tmp_path: Path, run_predict) -> None:
    status, out, err = run_predict(str(mixed_folder), "--output", str(tmp_path / "faces.jsonl"), "--save-annotated", str(tmp_path / "annotated"))
    assert status == 1
    skipped = [line for line in err.splitlines() if line.startswith("openfer: skipped")]
    assert len(skipped) == 5 and any("empty.jpg: empty file" in line for line in skipped)
    assert "5 sources read" in err and "5 failed" in err and "1 files skipped" in err
    assert f"{mixed_folder / 'good.jpg'}:" in out
    assert (tmp_path / "faces.jsonl").is_file()
    annotated = sorted(p.relative_to(tmp_path / "annotated").as_posix() for p in (tmp_path / "annotated").rglob("*.*"))
    assert annotated == ["black.png", "deep16.png", "good.jpg", "rgba.png", "sub/grey.png"]


def test_nothing_readable_exits_2(tmp_path: Path, run_predict) -> None:
    (tmp_path / "a.jpg").write_bytes(b"")
    status, _, err = run_predict(str(tmp_path / "a.jpg"), str(tmp_path / "missing.png"))
    assert status == 2 and "0 sources read" in err and "missing.png: no such file or folder" in err


def test_photos_and_video_give_csv_annotated_video_summary_and_plot(shared_photos: Path, tmp_path: Path, run_predict) -> None:
    output, annotated, summary_dir = tmp_path / "faces.csv", tmp_path / "annotated", tmp_path / "summary"
    status, out, err = run_predict(
        str(shared_photos / "obama_240p.jpg"),
        str(shared_photos / "short_hamilton_clip.mp4"),
        "--stride", "30",
        "--output", str(output),
        "--save-annotated", str(annotated),
        "--summary-dir", str(summary_dir),
    )
    assert status == 0, err
    table = pd.read_csv(output)
    assert {"source", "frame", "time", "x", "y", "w", "h", "label", "happy", "neutral"} <= set(table.columns)
    video = table[table["source"].str.endswith(".mp4")]
    assert len(video) > 0 and (video["frame"] % 30 == 0).all()
    assert "short_hamilton_clip.mp4: 10 frames" in out and "dominant" in out
    capture = cv2.VideoCapture(str(annotated / "short_hamilton_clip.mp4"))
    assert capture.isOpened() and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 10
    capture.release()
    assert (annotated / "obama_240p.jpg").is_file()
    summary = pd.read_csv(summary_dir / "summary.csv")
    assert summary["frames"].tolist() == [10] and summary["dominant"].iloc[0] in summary.columns.str.removeprefix("share_")
    assert (summary_dir / "short_hamilton_clip.timeline.png").read_bytes()[:4] == b"\x89PNG"


def test_webcam_without_a_display_is_a_clear_error(monkeypatch, run_predict) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    status, _, err = run_predict("0")
    assert status == 2 and "live window" in err and "--no-show" in err and len(err.strip().splitlines()) == 1


def test_an_image_without_faces_is_not_an_error(tmp_path: Path, run_predict) -> None:
    image = np.full((120, 120, 3), 128, np.uint8)
    cv2.imwrite(str(tmp_path / "plain.png"), image)
    status, out, _ = run_predict(str(tmp_path / "plain.png"), "--output", str(tmp_path / "faces.out"), "--format", "jsonl", "--quiet")
    assert status == 0 and out == ""
    assert (tmp_path / "faces.out").read_text() == ""  # a grey square has no face: an empty result, not an error


def test_format_without_output_streams_one_json_object_per_face_to_stdout(shared_photos: Path, tmp_path: Path, run_predict, monkeypatch) -> None:
    import io
    import json

    monkeypatch.chdir(tmp_path)
    photo = str(shared_photos / "two_people.jpg")
    status, out, err = run_predict(photo, "--format", "jsonl")
    records = [json.loads(line) for line in out.splitlines()]  # every stdout line is one JSON object
    assert status == 0 and len(records) >= 2 and all(r["source"] == photo and len(r["box"]) == 4 for r in records)
    assert f"{photo}: {len(records)} faces" in err and "records on stdout" in err
    status, out, err = run_predict(photo, "--format", "csv", "--output", "-", "--quiet")
    table = pd.read_csv(io.StringIO(out))
    assert status == 0 and len(table) == len(records) and {"detector_score", "label_probability"} <= set(table.columns)
    assert list(tmp_path.iterdir()) == []  # no file named '-'

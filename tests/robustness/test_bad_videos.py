"""A video corrupted a third of the way in is reported as read partly (a warning naming it, exit 1)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from openfer.cli import main
from openfer.recognize import Recognizer
from openfer.recognize.sources import iter_frames


@pytest.fixture
def corrupt_video(shared_photos: Path, tmp_path: Path) -> Path:
    """The shared 275-frame clip with 20 kB of noise written over it a third of the way in."""
    data = bytearray((shared_photos / "short_hamilton_clip.mp4").read_bytes())
    start = len(data) // 3
    data[start : start + 20_000] = np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    path = tmp_path / "clip.mp4"
    path.write_bytes(bytes(data))
    return path


def test_the_frames_before_the_damage_come_then_an_error_naming_the_video(corrupt_video: Path) -> None:
    frames = list(iter_frames(corrupt_video, stride=10))
    good, last = [f for f in frames if f.error is None], frames[-1]
    assert 5 <= len(good) < 20  # frames 0, 10, ... up to the damage (about frame 90 of 275)
    assert last.error is not None and "clip.mp4: read partly" in last.error and "of its 275 frames" in last.error


def test_predict_warns_and_exits_1_and_goes_on_with_the_next_source(corrupt_video: Path, shared_photos: Path, random_model_file: Path, capsys) -> None:
    status = main(["predict", str(corrupt_video), str(shared_photos / "obama_240p.jpg"), "--model", str(random_model_file),
                   "--backend", "torch", "--detector", "haar", "--stride", "25"])
    out, err = capsys.readouterr()
    assert status == 1
    (warning,) = [line for line in err.splitlines() if "read partly" in line]
    assert "clip.mp4" in warning
    assert "obama_240p.jpg" in out + err and "Traceback" not in err


def test_the_api_marks_the_result_as_an_error(corrupt_video: Path, random_model_file: Path) -> None:
    from openfer.inference import load_model

    results = list(Recognizer(load_model(random_model_file), "haar").predict(corrupt_video, stride=25))
    assert results[-1].error is not None and "read partly" in results[-1].error
    assert all(r.error is None for r in results[:-1]) and len(results) > 1


def test_a_whole_video_is_not_reported_as_partly_read(shared_photos: Path) -> None:
    frames = list(iter_frames(shared_photos / "short_hamilton_clip.mp4", stride=50))
    assert all(f.error is None for f in frames) and len(frames) == 6


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_named_mp4_is_refused_without_blocking(tmp_path: Path, deadline) -> None:
    os.mkfifo(tmp_path / "stream.mp4")
    (frame,) = iter_frames(tmp_path / "stream.mp4")
    assert "stream.mp4: not a regular file (a FIFO)" in frame.error

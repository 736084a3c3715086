"""``openfer data``: info on a dataset, reader options, and one-line errors with exit code 2."""

from __future__ import annotations

import gzip
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import pytest

from openfer.cli import main


@pytest.fixture(autouse=True)
def isolated_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENFER_CACHE", str(tmp_path / "cache"))


def _class_folders(root: Path) -> Path:
    for split, counts in (("train", (2, 1)), ("test", (1, 1))):
        for name, count in zip(("happy", "sad"), counts):
            for i in range(count):
                (root / split / name).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(root / split / name / f"{i}.png"), np.zeros((12, 10), np.uint8))
    return root


def test_list(capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "list"]) == 0
    assert "ferplus" in capsys.readouterr().out.split()


def test_info_prints_counts_and_image_size(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "info", "folder", "--root", str(_class_folders(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "train: [2, 1]" in out and "test: [1, 1]" in out and "12x10" in out


def test_info_passes_reader_options(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _class_folders(tmp_path)
    assert main(["data", "info", "folder", "--root", str(root), "-o", "classes=fer2013", "--option", "grey=true"]) == 0
    assert "train: [0, 0, 0, 2, 1, 0, 0]" in capsys.readouterr().out  # FER2013 order: happy 3, sad 4
    assert main(["data", "info", "folder", "--root", str(root), "-o", "classes=happy,surprise"]) == 2
    err = capsys.readouterr().err
    assert "train/sad: unknown class folder name" in err and err.count("\n") == 1


def test_bad_option_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "info", "ckplus", "--root", str(tmp_path), "-o", "folds=3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("openfer: error: dataset 'ckplus': bad options ['folds']") and err.count("\n") == 1
    assert main(["data", "info", "ckplus", "--root", str(tmp_path), "-o", "fold"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err


def _truncated_fer2013(shared_dataset, tmp_path: Path) -> Path:
    with gzip.open(shared_dataset("fer2013") / "fer2013.csv.gz", "rt", newline="") as f:
        lines = list(islice(f, 11))
    lines[6] = lines[6][:500] + "\n"  # row 6 cut short mid-pixels
    (tmp_path / "fer2013.csv").write_text("".join(lines), newline="")
    return tmp_path


def test_truncated_fer2013_row_exits_2_with_one_line(shared_dataset, tmp_path: Path, capsys) -> None:
    root = _truncated_fer2013(shared_dataset, tmp_path)
    assert main(["data", "info", "fer2013", "--root", str(root)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"openfer: error: {root / 'fer2013.csv'}: row 6 (line 7): expected 3 fields, got 2\n"
    assert captured.out == ""

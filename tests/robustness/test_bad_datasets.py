"""Dataset files: an empty split is an error, not an accuracy of 0; a byte-order mark or a trailing blank
line in a CSV is valid input."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from openfer.cli import main
from openfer.data import load_dataset
from openfer.data.ferplus import HEADER
from openfer.engine.evaluate import evaluate
from openfer.errors import DatasetError
from openfer.inference import load_model


def fer2013_csv(path: Path, usages: list[str], bom: bool = False, trailing_blank: bool = False) -> Path:
    rng = np.random.default_rng(0)
    lines = ["emotion,pixels,Usage"] + [f"{i % 7},{' '.join(map(str, rng.integers(0, 256, 2304)))},{u}" for i, u in enumerate(usages)]
    text = "\n".join(lines) + "\n" + ("\n" if trailing_blank else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def test_eval_on_an_empty_split_is_an_error(tmp_path: Path, random_model_file: Path, capsys) -> None:
    path = fer2013_csv(tmp_path / "fer2013.csv", ["Training"] * 4 + ["PublicTest"] * 2)
    status = main(["eval", "--checkpoint", str(random_model_file), "--root", str(path), "--split", "PrivateTest", "--quiet"])
    captured = capsys.readouterr()
    assert status == 2 and "accuracy" not in captured.out
    assert "split 'PrivateTest': no faces to evaluate" in captured.err and captured.err.strip().count("\n") == 0
    with pytest.raises(DatasetError, match="no faces to evaluate"):
        evaluate(load_model(random_model_file), load_dataset("fer2013", path)["PrivateTest"])


@pytest.mark.parametrize("bom, trailing_blank", [(True, False), (False, True), (True, True)], ids=["bom", "blank-line", "both"])
def test_fer2013_csv_with_a_bom_or_a_trailing_blank_line_is_read(tmp_path: Path, bom: bool, trailing_blank: bool, monkeypatch) -> None:
    monkeypatch.setenv("OPENFER_CACHE", str(tmp_path / "cache"))
    path = fer2013_csv(tmp_path / "fer2013.csv", ["Training", "PublicTest", "PrivateTest"], bom, trailing_blank)
    data = load_dataset("fer2013", path)
    assert [len(data[s]) for s in ("Training", "PublicTest", "PrivateTest")] == [1, 1, 1]


def test_ferplus_votes_with_a_bom_and_a_trailing_blank_line_are_read(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENFER_CACHE", str(tmp_path / "cache"))
    fer2013_csv(tmp_path / "fer2013" / "fer2013.csv", ["Training", "PublicTest", "PrivateTest"])
    votes = tmp_path / "ferplus" / "fer2013new.csv"
    votes.parent.mkdir()
    with open(votes, "w", newline="", encoding="utf-8-sig") as f:  # utf-8-sig writes the byte-order mark
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for usage, name in (("Training", "fer0000000.png"), ("PublicTest", "fer0000001.png"), ("PrivateTest", "fer0000002.png")):
            writer.writerow([usage, name, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0])
        f.write("\r\n")
    assert votes.read_bytes()[:3] == b"\xef\xbb\xbf"
    data = load_dataset("ferplus", votes.parent)
    assert sum(len(split) for split in data.values()) == 3

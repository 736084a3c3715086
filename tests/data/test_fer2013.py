"""FER2013: the shared CSV's official counts, the cache, and one-line errors on bad rows."""

from __future__ import annotations

import gzip
import time
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from openfer.data import fer2013, load_dataset
from openfer.data.fer2013 import load_fer2013
from openfer.errors import DatasetError

COUNTS = {
    "Training": [3995, 436, 4097, 7215, 4830, 3171, 4965],
    "PublicTest": [467, 56, 496, 895, 653, 415, 607],
    "PrivateTest": [491, 55, 528, 879, 594, 416, 626],
}


def copy_rows(shared_csv: Path, target: Path, rows: int) -> list[str]:
    """Write the header and the first ``rows`` rows of the shared CSV to ``target``; returns the lines."""
    with gzip.open(shared_csv, "rt", encoding="utf-8", newline="") as f:
        lines = list(islice(f, rows + 1))
    target.write_text("".join(lines), encoding="utf-8", newline="")
    return lines


@pytest.fixture
def small_copy(shared_dataset, tmp_path: Path) -> tuple[Path, list[str]]:
    """The first 12 rows of the shared FER2013 CSV, as ``tmp/fer2013/fer2013.csv``."""
    folder = tmp_path / "fer2013"
    folder.mkdir()
    lines = copy_rows(shared_dataset("fer2013") / "fer2013.csv.gz", folder / "fer2013.csv", 12)
    return folder / "fer2013.csv", lines


def test_shared_counts_per_split(fer2013_shared) -> None:
    data = fer2013_shared.data
    assert {name: split.counts() for name, split in data.items()} == COUNTS
    split = data["PrivateTest"]
    assert split.images.shape == (3589, 48, 48) and split.images.dtype == np.uint8
    assert split.image_ids[0] == str(28709 + 3589)


def test_second_load_comes_from_the_cache_without_reparsing(fer2013_shared, monkeypatch) -> None:
    def no_parsing(path):
        raise AssertionError(f"parsed {path} again instead of reading the cache")

    monkeypatch.setattr(fer2013, "parse_csv", no_parsing)
    # CPU time, not wall time: the test machines are shared, and a re-parse costs over 10 s of CPU. The bound leaves
    # room for a core shared with two training runs (1.02 s measured there on 2026-12-03).
    start = time.process_time()
    data = load_dataset("fer2013", fer2013_shared.root)
    assert time.process_time() - start <= 2.5
    assert np.array_equal(data["Training"].images[:50], fer2013_shared.data["Training"].images[:50])


def test_small_copy_matches_its_rows(small_copy) -> None:
    path, lines = small_copy
    data = load_fer2013(path.parent)
    expected = [int(line.split(",")[0]) for line in lines[1:]]
    assert data["Training"].labels.tolist() == expected
    assert data["Training"].images[0].ravel().tolist() == [int(v) for v in lines[1].split(",")[1].split()]


def _rewrite_row(path: Path, lines: list[str], row: int, new_line: str) -> None:
    lines = list(lines)
    lines[row] = new_line
    path.write_text("".join(lines), encoding="utf-8", newline="")


def test_truncated_row_names_the_row(small_copy) -> None:
    path, lines = small_copy
    label, pixels, usage = lines[7].split(",")
    _rewrite_row(path, lines, 7, f"{label},{' '.join(pixels.split()[:1000])}\n")  # cut off mid-pixels
    with pytest.raises(DatasetError) as caught:
        load_dataset("fer2013", path.parent)
    message = str(caught.value)
    assert f"{path}: row 7 (line 8)" in message and "\n" not in message


def test_short_pixel_list_names_the_row(small_copy) -> None:
    path, lines = small_copy
    label, pixels, usage = lines[3].split(",")
    _rewrite_row(path, lines, 3, f"{label},{' '.join(pixels.split()[:2000])},{usage}")
    with pytest.raises(DatasetError, match=r"row 3 \(line 4\): 2000 pixel values, expected 2304"):
        load_fer2013(path)


def test_label_out_of_range_names_the_row(small_copy) -> None:
    path, lines = small_copy
    _, pixels, usage = lines[5].split(",")
    _rewrite_row(path, lines, 5, f"7,{pixels},{usage}")
    with pytest.raises(DatasetError, match=r"row 5 \(line 6\): label 7 outside 0..6"):
        load_fer2013(path)


def test_missing_file_or_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nowhere: no such file or folder"):
        load_dataset("fer2013", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="no fer2013.csv or fer2013.csv.gz"):
        load_fer2013(tmp_path / "nowhere.csv")

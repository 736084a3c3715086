"""FERPlus: the FERPlus tools' label rules, both layouts, and the shared data's majority counts."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from openfer import labels
from openfer.data import load_dataset
from openfer.data.ferplus import HEADER, vote_target
from openfer.errors import ConfigError, DatasetError

#        neutral happiness surprise sadness anger disgust fear contempt unknown NF
VOTES = [
    ("Training", "fer0000000.png", [4, 0, 0, 1, 3, 2, 0, 0, 0, 0]),  # 4 of 9 after outliers: no majority
    ("Training", "fer0000001.png", [6, 0, 1, 1, 0, 0, 0, 0, 2, 0]),  # neutral 6 of 8
    ("Training", "", [0, 0, 0, 0, 0, 0, 0, 0, 0, 10]),  # dropped by FERPlus: not a face
    ("PublicTest", "fer0000003.png", [0, 2, 8, 0, 0, 0, 0, 0, 0, 0]),  # surprise
    ("PublicTest", "fer0000004.png", [0, 0, 0, 0, 0, 0, 0, 0, 7, 3]),  # unknown: dropped
    ("PrivateTest", "fer0000005.png", [0, 0, 0, 0, 0, 0, 0, 3, 0, 0]),  # contempt (3 votes, all of them)
]


def write_votes(path: Path, rows=VOTES, usage_names: dict[str, str] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for usage, name, votes in rows:
            writer.writerow([(usage_names or {}).get(usage, usage), name, *votes])


def write_fer2013(path: Path, usages: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["emotion,pixels,Usage"]
    for row, usage in enumerate(usages):
        lines.append(f"{row % 7},{' '.join([str(row * 10)] * 2304)},{usage}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def csv_layout(tmp_path: Path) -> Path:
    """``tmp/ferplus/fer2013new.csv`` beside ``tmp/fer2013/fer2013.csv`` (pixels = 10 x row number)."""
    write_votes(tmp_path / "ferplus" / "fer2013new.csv")
    write_fer2013(tmp_path / "fer2013" / "fer2013.csv", [usage for usage, _, _ in VOTES])
    return tmp_path / "ferplus"


@pytest.mark.parametrize(
    "votes, majority",
    [
        ([4, 0, 0, 1, 3, 2, 0, 0, 0, 0], None),  # single votes removed; 4 of 9 is no majority
        ([5, 0, 0, 0, 0, 0, 0, 0, 1, 4], 0),  # the unknown single vote is removed: 5 of 9 wins
        ([5, 5, 0, 0, 0, 0, 0, 0, 0, 0], None),  # a tie is no strict majority
        ([1, 1, 1, 1, 1, 1, 1, 1, 1, 1], None),  # all outliers
        ([0, 0, 0, 0, 0, 0, 0, 0, 6, 4], None),  # majority unknown
        ([0, 3, 0, 0, 0, 0, 0, 0, 0, 2], 1),
    ],
)
def test_majority_rule(votes: list[int], majority: int | None) -> None:
    target = vote_target(votes, "majority")
    if majority is None:
        assert target is None
    else:
        assert target.argmax() == majority and target.sum() == 1 and target.max() == 1


@pytest.mark.parametrize(
    "votes, expected",
    [
        ([6, 0, 1, 1, 0, 0, 0, 0, 2, 0], [1, 0, 0, 0, 0, 0, 0, 0]),  # 6 of 8 covers 75 %: unknown never taken
        ([4, 3, 2, 1, 0, 0, 0, 0, 0, 0], [4 / 7, 3 / 7, 0, 0, 0, 0, 0, 0]),  # 7 of 9 votes reach 75 %: stop
        ([3, 2, 2, 0, 0, 0, 0, 0, 0, 0], [3 / 7, 2 / 7, 2 / 7, 0, 0, 0, 0, 0]),  # a level of two ties
        ([3, 3, 0, 0, 0, 0, 0, 0, 3, 0], [0.5, 0.5, 0, 0, 0, 0, 0, 0]),  # unknown tied after emotions: left out
        ([4, 4, 0, 0, 0, 0, 0, 0, 0, 0], [0.5, 0.5, 0, 0, 0, 0, 0, 0]),  # a tie at the top
        ([2, 2, 2, 2, 2, 0, 0, 0, 0, 0], None),  # five classes at one level: more than 3
        ([0, 0, 0, 0, 0, 0, 0, 0, 5, 5], None),  # unknown on top
    ],
)
def test_probability_rule(votes: list[int], expected: list[float] | None) -> None:
    target = vote_target(votes, "probability")
    if expected is None:
        assert target is None
    else:
        np.testing.assert_allclose(target, expected)


def test_csv_layout_majority(csv_layout: Path) -> None:
    data = load_dataset("ferplus", csv_layout)
    assert list(data) == ["Training", "PublicTest", "PrivateTest"]
    assert data["Training"].classes == labels.FERPLUS
    assert [labels.FERPLUS[i] for s in data.values() for i in s.labels] == ["neutral", "surprise", "contempt"]
    assert data["Training"].image_ids == ["1"] and data["PublicTest"].image_ids == ["3"]
    assert data["PublicTest"].image(0)[0, 0] == 30  # the pixels of FER2013 row 3
    assert data["Training"].soft_labels is None


def test_csv_layout_probability(csv_layout: Path) -> None:
    split = load_dataset("ferplus", csv_layout, mode="probability")["Training"]
    assert split.image_ids == ["0", "1"]  # row 0 has no majority but 7 of its 9 votes on two classes
    np.testing.assert_allclose(split.soft_labels, [[4 / 7, 0, 0, 0, 3 / 7, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0]])
    assert split.labels.tolist() == [0, 0]


def test_fer2013_given_explicitly_and_split_aliases(tmp_path: Path) -> None:
    aliases = {"Training": "FER2013Train", "PublicTest": "FER2013Valid", "PrivateTest": "FER2013Test"}
    write_votes(tmp_path / "labels" / "votes.csv", usage_names=aliases)
    write_fer2013(tmp_path / "elsewhere" / "fer2013.csv", [usage for usage, _, _ in VOTES])
    data = load_dataset("ferplus", tmp_path / "labels" / "votes.csv", fer2013=tmp_path / "elsewhere")
    assert [len(s) for s in data.values()] == [1, 1, 1]


def test_misaligned_files_name_the_row(tmp_path: Path) -> None:
    write_votes(tmp_path / "ferplus" / "fer2013new.csv")
    usages = [usage for usage, _, _ in VOTES]
    usages[3] = "PrivateTest"
    write_fer2013(tmp_path / "fer2013" / "fer2013.csv", usages)
    with pytest.raises(DatasetError, match=r"fer2013new.csv: row 4 is PublicTest but row 4 of .* is PrivateTest"):
        load_dataset("ferplus", tmp_path / "ferplus")
    write_fer2013(tmp_path / "fer2013" / "fer2013.csv", usages[:4])
    with pytest.raises(DatasetError, match="6 rows but .* has 4"):
        load_dataset("ferplus", tmp_path / "ferplus")


def test_bad_vote_row_names_the_row(tmp_path: Path) -> None:
    rows = list(VOTES)
    rows[2] = ("Training", "", [0, 0, "x", 0, 0, 0, 0, 0, 0, 10])
    write_votes(tmp_path / "ferplus" / "fer2013new.csv", rows)
    write_fer2013(tmp_path / "fer2013" / "fer2013.csv", [usage for usage, _, _ in VOTES])
    with pytest.raises(DatasetError, match=r"row 3 \(line 4\): non-integer vote count"):
        load_dataset("ferplus", tmp_path / "ferplus")


def test_missing_fer2013_and_bad_mode(tmp_path: Path, csv_layout: Path) -> None:
    write_votes(tmp_path / "other" / "alone" / "fer2013new.csv")
    with pytest.raises(DatasetError, match="no FER2013 CSV beside it or in ../fer2013 .*; pass fer2013=PATH"):
        load_dataset("ferplus", tmp_path / "other" / "alone")
    with pytest.raises(ConfigError, match="unknown mode 'soft'"):
        load_dataset("ferplus", csv_layout, mode="soft")


def test_image_folder_layout(tmp_path: Path, write_image) -> None:
    folders = {"Training": "FER2013Train", "PublicTest": "FER2013Valid", "PrivateTest": "FER2013Test"}
    for usage, name, votes in VOTES:
        if not name:
            continue
        folder = tmp_path / folders[usage]
        write_image(folder / name, size=(48, 48))
        with open(folder / "label.csv", "a", newline="") as f:
            csv.writer(f).writerow([name, "(0, 0, 48, 48)", *votes])
    data = load_dataset("ferplus", tmp_path)
    assert [labels.FERPLUS[i] for s in data.values() for i in s.labels] == ["neutral", "surprise", "contempt"]
    assert data["PublicTest"].image_ids == ["fer0000003.png"]
    assert data["PublicTest"].image(0).shape == (48, 48)
    (tmp_path / "FER2013Test" / "fer0000005.png").unlink()
    with pytest.raises(DatasetError, match=r"FER2013Test/label.csv: row 1: image .*fer0000005.png not found"):
        load_dataset("ferplus", tmp_path)


def test_shared_majority_counts_match_an_independent_count(shared_dataset, fer2013_shared) -> None:
    root = shared_dataset("ferplus")
    # Independent count: single votes removed, then a strict majority of the remaining votes that is
    # one of the 8 emotions (not unknown / NF).
    table = pd.read_csv(root / "fer2013new.csv")
    votes = table[list(HEADER[2:])].to_numpy()
    votes = np.where(votes > 1, votes, 0)
    winner = votes.argmax(axis=1)
    kept = (votes.max(axis=1) * 2 > votes.sum(axis=1)) & (winner < 8)
    expected = {
        usage: np.bincount(winner[kept & (table["Usage"] == usage).to_numpy()], minlength=8).tolist()
        for usage in ("Training", "PublicTest", "PrivateTest")
    }
    data = load_dataset("ferplus", root, fer2013=fer2013_shared.root)
    assert {name: split.counts() for name, split in data.items()} == expected
    training = data["Training"]
    rows = np.array(training.image_ids[:100], dtype=int)
    assert np.array_equal(training.images[:100], fer2013_shared.data["Training"].images[rows])


def test_shared_probability_targets_are_distributions(shared_dataset, fer2013_shared) -> None:
    data = load_dataset("ferplus", shared_dataset("ferplus"), mode="probability")
    for split in data.values():
        np.testing.assert_allclose(split.soft_labels.sum(axis=1), 1, atol=1e-6)
        assert np.array_equal(split.soft_labels.argmax(axis=1), split.labels)
    assert len(data["Training"]) > 25060  # keeps more images than majority mode

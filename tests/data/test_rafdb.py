"""RAF-DB basic: the partition label file and the aligned images."""

from __future__ import annotations

from pathlib import Path

import pytest

from openfer import labels
from openfer.data import load_dataset
from openfer.errors import DatasetError

LINES = ["train_00001.jpg 5", "train_00002.jpg 1", "train_00003.jpg 4", "test_0001.jpg 7", "test_0002.jpg 4"]


def _tiny_rafdb(root: Path, write_image, lines=LINES) -> Path:
    (root / "EmoLabel").mkdir(parents=True)
    (root / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    for line in LINES:
        stem = line.split()[0][: -len(".jpg")]
        write_image(root / "Image" / "aligned" / f"{stem}_aligned.jpg", size=(100, 100), colour=True)
        write_image(root / "Image" / "original" / f"{stem}.jpg", size=(120, 90), colour=True)
    return root


def test_labels_one_to_seven_become_zero_to_six(tmp_path: Path, write_image) -> None:
    data = load_dataset("rafdb", _tiny_rafdb(tmp_path, write_image))
    assert list(data) == ["train", "test"]
    train = data["train"]
    assert train.classes == labels.RAFDB
    assert [labels.RAFDB[i] for i in train.labels] == ["sadness", "surprise", "happiness"]
    assert [labels.RAFDB[i] for i in data["test"].labels] == ["neutral", "happiness"]
    assert train.image_ids[0] == "train_00001_aligned.jpg" and train.image(0).shape == (100, 100, 3)
    original = load_dataset("rafdb", tmp_path, aligned=False)["test"]
    assert original.image(0).shape == (120, 90, 3)


def test_label_file_directly_in_root_or_given(tmp_path: Path, write_image) -> None:
    _tiny_rafdb(tmp_path, write_image)
    moved = tmp_path / "list_patition_label.txt"
    (tmp_path / "EmoLabel" / "list_patition_label.txt").rename(moved)
    assert len(load_dataset("rafdb", tmp_path)["train"]) == 3
    assert len(load_dataset("rafdb", moved)["test"]) == 2


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("train_00003.jpg 8", r"line 3: label 8 outside 1..7"),
        ("train_00003.jpg", r"line 3: expected '<image name> <label>'"),
        ("val_00003.jpg 1", r"line 3: image name 'val_00003.jpg' does not start with train_ or test_"),
        ("train_09999.jpg 1", r"line 3: image .*train_09999_aligned.jpg not found"),
    ],
)
def test_bad_lines_are_named(tmp_path: Path, write_image, bad_line: str, message: str) -> None:
    lines = list(LINES)
    lines[2] = bad_line
    _tiny_rafdb(tmp_path, write_image, lines)
    with pytest.raises(DatasetError, match=r"list_patition_label.txt: " + message):
        load_dataset("rafdb", tmp_path)


def test_missing_label_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no EmoLabel/list_patition_label.txt"):
        load_dataset("rafdb", tmp_path)

"""AffectNet class folders: numeric or named classes, 7 or 8 classes."""

from __future__ import annotations

from pathlib import Path

import pytest

from openfer import labels
from openfer.data import load_dataset
from openfer.errors import ConfigError, DatasetError


def _tiny_affectnet(root: Path, write_image, names=("0", "1", "6", "7"), suffix="_set") -> Path:
    for split in ("train", "val"):
        for name in names:
            write_image(root / f"{split}{suffix}" / name / f"{split}_{name}.jpg", colour=True)
    return root


def test_numeric_folders_eight_classes(tmp_path: Path, write_image) -> None:
    data = load_dataset("affectnet", _tiny_affectnet(tmp_path, write_image))
    assert list(data) == ["train", "val"] and data["train"].name == "train"
    assert data["val"].classes == labels.AFFECTNET8
    assert data["val"].counts() == [1, 1, 0, 0, 0, 0, 1, 1]
    assert data["val"].image(0).shape == (8, 8, 3)


def test_seven_classes_leave_contempt_out(tmp_path: Path, write_image) -> None:
    data = load_dataset("affectnet", _tiny_affectnet(tmp_path, write_image), classes=7)
    assert data["train"].classes == labels.AFFECTNET7
    assert data["train"].counts() == [1, 1, 0, 0, 0, 0, 1]
    assert not any("/7/" in p.as_posix() for p in data["train"].paths)


def test_named_folders(tmp_path: Path, write_image) -> None:
    root = _tiny_affectnet(tmp_path, write_image, names=("Neutral", "Happy", "Anger", "Contempt"), suffix="")
    data = load_dataset("affectnet", root, classes=7)
    assert list(data) == ["train", "val"] and data["train"].counts() == [1, 1, 0, 0, 0, 0, 1]


def test_bad_classes_option_and_folder(tmp_path: Path, write_image) -> None:
    root = _tiny_affectnet(tmp_path, write_image)
    with pytest.raises(ConfigError, match="classes=5; expected 7 or 8"):
        load_dataset("affectnet", root, classes=5)
    write_image(root / "train_set" / "9" / "x.jpg")
    with pytest.raises(DatasetError, match=r"train_set/9: unknown class folder name .*index 9"):
        load_dataset("affectnet", root)

"""JAFFE: labels and subjects from the file names."""

from __future__ import annotations

from pathlib import Path

import pytest

from openfer import labels
from openfer.data import load_dataset
from openfer.errors import DatasetError

FILES = ["KA.AN1.39.tiff", "KA.HA2.30.tiff", "KL.NE1.155.tiff", "KL.SU3.166.tiff", "MK.DI1.130.tiff",
         "MK.FE2.132.tiff", "NA.SA1.211.tiff", "NA.HA1.202.tiff"]


def _tiny_jaffe(root: Path, write_image) -> None:
    for name in FILES:
        write_image(root / name, size=(16, 16))
    (root / "README").write_text("JAFFE")


def test_labels_and_subjects_from_file_names(tmp_path: Path, write_image) -> None:
    _tiny_jaffe(tmp_path, write_image)
    split = load_dataset("jaffe", tmp_path)["all"]
    assert split.classes == labels.JAFFE
    by_name = dict(zip(split.image_ids, split.labels))
    assert labels.JAFFE[by_name["KA.AN1.39.tiff"]] == "AN" and labels.JAFFE[by_name["MK.FE2.132.tiff"]] == "FE"
    assert split.counts() == [1, 1, 1, 2, 1, 1, 1]
    assert sorted(set(split.groups)) == ["KA", "KL", "MK", "NA"]
    assert split.image(0).shape == (16, 16)


def test_leave_one_subject_out(tmp_path: Path, write_image) -> None:
    _tiny_jaffe(tmp_path, write_image)
    folds = load_dataset("jaffe", tmp_path, num_folds=4)
    assert sorted(len(set(f.groups)) for f in folds.values()) == [1, 1, 1, 1]
    fold = load_dataset("jaffe", tmp_path, fold=2, num_folds=4)
    assert [len(fold[name]) for name in ("train", "val", "test")] == [4, 2, 2]
    fold = load_dataset("jaffe", tmp_path, fold=2, num_folds=4, validation=False)
    assert len(fold["train"]) == 6 and len(fold["test"]) == 2


def test_unknown_code_names_the_file(tmp_path: Path, write_image) -> None:
    _tiny_jaffe(tmp_path, write_image)
    write_image(tmp_path / "KA.XX1.40.tiff")
    with pytest.raises(DatasetError, match=r"KA.XX1.40.tiff: file name is not"):
        load_dataset("jaffe", tmp_path)

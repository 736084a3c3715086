"""CK+48 and its subject-independent folds, on a tiny copy and on the shared data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openfer import labels
from openfer.data import load_dataset
from openfer.data.splits import kfold_splits
from openfer.errors import ConfigError, DatasetError

SHARED_COUNTS = [135, 54, 177, 75, 207, 84, 249, 0]  # CKPLUS order; no neutral in CK+48


def _tiny_ckplus(root: Path, write_image) -> None:
    """12 subjects, 3 frames of one sequence each, spread over the seven CK+48 folders."""
    folders = labels.CKPLUS[:7]
    for subject in range(12):
        for frame in range(3):
            write_image(root / folders[subject % 7] / f"S{subject + 10:03d}_001_{frame + 1:08d}.png", size=(48, 48))
    (root / "README.md").write_text("CK+48")


def test_tiny_ckplus_all(tmp_path: Path, write_image) -> None:
    _tiny_ckplus(tmp_path, write_image)
    data = load_dataset("ckplus", tmp_path)
    assert list(data) == ["all"]
    split = data["all"]
    assert split.classes == labels.CKPLUS and split.counts() == [6, 6, 6, 6, 6, 3, 3, 0]
    assert sorted(set(split.groups)) == [f"S{s:03d}" for s in range(10, 22)]
    assert split.image(0).shape == (48, 48)


def test_tiny_ckplus_folds(tmp_path: Path, write_image) -> None:
    _tiny_ckplus(tmp_path, write_image)
    folds = load_dataset("ckplus", tmp_path, num_folds=4)
    assert list(folds) == ["fold0", "fold1", "fold2", "fold3"]
    assert [len(f) for f in folds.values()] == [9, 9, 9, 9]
    fold = load_dataset("ckplus", tmp_path, fold=1, num_folds=4)
    assert not set(fold["train"].groups) & set(fold["test"].groups)
    assert sorted(fold["test"].image_ids) == sorted(folds["fold1"].image_ids)
    with pytest.raises(ConfigError, match="fold=4: expected 0..3"):
        load_dataset("ckplus", tmp_path, fold=4, num_folds=4)
    with pytest.raises(ConfigError, match=r"num_folds=13: expected 2..12"):
        load_dataset("ckplus", tmp_path, num_folds=13)


def test_bad_file_name_is_named(tmp_path: Path, write_image) -> None:
    _tiny_ckplus(tmp_path, write_image)
    write_image(tmp_path / "happy" / "face.png")
    with pytest.raises(DatasetError, match=r"happy/face.png: file name is not S<subject>"):
        load_dataset("ckplus", tmp_path)


def test_split_folders_are_refused(tmp_path: Path, write_image) -> None:
    write_image(tmp_path / "train" / "happy" / "S010_001_00000001.png")
    with pytest.raises(DatasetError, match="expected class folders directly in it"):
        load_dataset("ckplus", tmp_path)


def test_shared_ckplus48_ten_subject_disjoint_folds(shared_dataset) -> None:
    split = load_dataset("ckplus", shared_dataset("ckplus48"))["all"]
    assert len(split) == 981 and split.counts() == SHARED_COUNTS
    assert len(set(split.groups)) == 118
    folds = kfold_splits(split, 10)
    tested = np.concatenate([test for _, test in folds])
    assert np.array_equal(np.sort(tested), np.arange(981))  # every image in exactly one test fold
    subjects = [set(split.groups[test]) for _, test in folds]
    assert sum(len(s) for s in subjects) == 118  # no subject in two test folds
    for train, test in folds:
        assert not set(split.groups[train]) & set(split.groups[test])
        assert len(train) + len(test) == 981
    assert max(len(t) for _, t in folds) - min(len(t) for _, t in folds) <= 6  # balanced sizes
    again = load_dataset("ckplus", shared_dataset("ckplus48"), fold=3)
    assert np.array_equal(np.sort(again["test"].image_ids), np.sort(np.asarray(split.image_ids)[folds[3][1]]))


def test_shared_ckplus48_folds_hold_every_class(shared_dataset, recwarn) -> None:
    # Size-only folds left fold 2 without a sadness image; class-stratified folds give each class to every fold.
    split = load_dataset("ckplus", shared_dataset("ckplus48"))["all"]
    for num_folds in (10, 5):
        for _, test in kfold_splits(split, num_folds):
            assert np.bincount(split.labels[test], minlength=8)[:7].min() >= 3
    assert not [w for w in recwarn if "have no image" in str(w.message)]
    fold = load_dataset("ckplus", shared_dataset("ckplus48"), fold=9)
    assert [len(fold[name]) for name in ("train", "val", "test")] == [len(split) - len(fold["val"]) - len(fold["test"]), 99, 96]
    assert not set(fold["val"].groups) & (set(fold["train"].groups) | set(fold["test"].groups))


def test_shared_ckplus48_random_4_to_1_holdout(shared_dataset) -> None:
    """GCLNet's protocol: an image-level random 4:1 split (here seeded and stratified, 10 % of all to validation)."""
    def load_ckplus(root, **options):
        return load_dataset("ckplus", root, **options)

    data = load_ckplus(shared_dataset("ckplus48"), holdout=0.2, seed=0)
    assert list(data) == ["train", "val", "test"]
    total = sum(len(part) for part in data.values())
    assert total == 981 and abs(len(data["test"]) - 0.2 * 981) <= 7 and abs(len(data["val"]) - 0.1 * 981) <= 7
    ids = [set(part.image_ids or map(str, part.paths)) for part in data.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    for name, part in data.items():  # stratified: each class in the same share in every part
        assert all(abs(c / len(part) - a / 981) < 0.03 for c, a in zip(part.counts(), load_ckplus(shared_dataset("ckplus48"))["all"].counts())), name
    assert set(data["train"].groups) & set(data["test"].groups)  # subjects are shared across the split, as in the paper
    again = load_ckplus(shared_dataset("ckplus48"), holdout=0.2, seed=0)
    assert [str(p) for p in again["test"].paths] == [str(p) for p in data["test"].paths]
    assert [str(p) for p in load_ckplus(shared_dataset("ckplus48"), holdout=0.2, seed=1)["test"].paths] != [str(p) for p in data["test"].paths]
    assert list(load_ckplus(shared_dataset("ckplus48"), holdout=0.2, validation=False)) == ["train", "test"]
    with pytest.raises(ConfigError, match="not used with fold"):
        load_ckplus(shared_dataset("ckplus48"), holdout=0.2, fold=0)

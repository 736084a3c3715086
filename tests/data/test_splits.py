"""Subject-independent folds: deterministic, disjoint, balanced."""

from __future__ import annotations

import numpy as np
import pytest

from openfer.data.base import FaceSplit
from openfer.data.splits import fold_splits, kfold_splits, select_folds, subject_folds
from openfer.errors import ConfigError, DatasetError


def _split(groups: list[str]) -> FaceSplit:
    n = len(groups)
    return FaceSplit(name="all", classes=("a", "b"), labels=np.arange(n) % 2,
                     images=np.zeros((n, 4, 4), np.uint8), groups=np.asarray(groups))


def test_subjects_stay_whole_and_folds_are_balanced() -> None:
    groups = np.repeat([f"S{i}" for i in range(7)], [5, 4, 3, 3, 2, 2, 1])
    folds = subject_folds(groups, 3)
    for subject in set(groups):
        assert len(set(folds[groups == subject])) == 1
    assert np.bincount(folds).tolist() == [7, 7, 6]
    # largest subject first, each to the emptiest fold (lowest on ties); equal-sized subjects in a seeded order
    assert [folds[groups == f"S{i}"][0] for i in range(3)] == [0, 1, 2]
    assert np.array_equal(subject_folds(groups, 3, seed=5), subject_folds(groups, 3, seed=5))


def test_folds_do_not_depend_on_sample_order() -> None:
    groups = np.repeat([f"S{i}" for i in range(6)], [3, 1, 2, 2, 4, 1])
    order = np.random.default_rng(0).permutation(len(groups))
    assert np.array_equal(subject_folds(groups, 3)[order], subject_folds(groups[order], 3))


def test_kfold_train_and_test_partition_the_split() -> None:
    split = _split([f"S{i % 5}" for i in range(20)])
    for train, test in kfold_splits(split, 5):
        assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(20))
        assert not set(split.groups[train]) & set(split.groups[test])
    assert list(fold_splits(split, 5)) == [f"fold{k}" for k in range(5)]


def test_select_folds_options() -> None:
    split = _split([f"S{i % 4}" for i in range(8)])
    assert list(select_folds(split, None, None)) == ["all"]
    assert list(select_folds(split, None, 4)) == ["fold0", "fold1", "fold2", "fold3"]
    assert {k: len(v) for k, v in select_folds(split, 0, 4).items()} == {"train": 4, "val": 2, "test": 2}
    assert {k: len(v) for k, v in select_folds(split, 0, 4, validation=False).items()} == {"train": 6, "test": 2}
    with pytest.raises(ConfigError, match="a validation fold needs 3 or more folds"):
        select_folds(split, 0, 2)
    with pytest.raises(ConfigError, match="fold=10: expected 0..9"):
        select_folds(split, 10, None)


def test_split_without_groups() -> None:
    split = FaceSplit(name="x", classes=("a",), labels=[0], images=np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(DatasetError, match="no subject ids"):
        kfold_splits(split, 2)


def _labelled_split(subject_labels: list[list[int]], classes: int = 3) -> FaceSplit:
    """One subject per entry, holding one image per listed label."""
    groups = [f"S{i:03d}" for i, labels in enumerate(subject_labels) for _ in labels]
    labels = [label for labels in subject_labels for label in labels]
    return FaceSplit(name="all", classes=tuple("abcdefgh"[:classes]), labels=labels,
                     images=np.zeros((len(labels), 4, 4), np.uint8), groups=np.asarray(groups))


def test_every_class_reaches_every_fold_when_enough_subjects_hold_it() -> None:
    # Class 2 is held by 3 small subjects only; size-only balancing would leave folds without it.
    subject_labels = [[0] * 6, [0] * 6, [0] * 6, [1] * 4, [1] * 4, [1] * 4, [2], [2], [2]]
    split = _labelled_split(subject_labels)
    tests = [test for _, test in kfold_splits(split, 3)]
    for test in tests:
        assert sorted(set(split.labels[test])) == [0, 1, 2]
        assert np.bincount(split.labels[test]).tolist() == [6, 4, 1]
    assert np.array_equal(np.sort(np.concatenate(tests)), np.arange(len(split)))


def test_a_class_too_rare_for_the_folds_is_named() -> None:
    split = _labelled_split([[0, 0], [0, 0], [0, 1], [0, 0], [0, 0], [0, 0]], classes=2)
    with pytest.warns(UserWarning, match=r"class 1 is held by 1 subject\(s\).*test folds \[\d, \d\] have no image of it"):
        kfold_splits(split, 3)


def test_validation_fold_is_a_training_fold_disjoint_from_test() -> None:
    split = _split([f"S{i % 9}" for i in range(36)])
    split.image_ids = [f"img{i}" for i in range(36)]
    for fold in range(3):
        parts = select_folds(split, fold, 3)
        ids = {name: set(part.image_ids) for name, part in parts.items()}
        groups = {name: set(part.groups) for name, part in parts.items()}
        assert sum(map(len, ids.values())) == 36 and len(set().union(*ids.values())) == 36
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            assert not groups[a] & groups[b]
        assert ids["val"] == set(select_folds(split, None, 3)[f"fold{(fold + 1) % 3}"].image_ids)

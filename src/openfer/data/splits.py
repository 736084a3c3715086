"""Subject-independent k-fold splits for datasets without an official split (CK+, JAFFE).

Folds are deterministic: subjects are taken largest first (most images; ties by subject id) and each
goes whole to the fold with the fewest images so far (ties to the lowest fold). Every image is in
exactly one test fold and no subject is in two folds.
"""

from __future__ import annotations

import numpy as np

from openfer.data.base import Dataset, FaceSplit
from openfer.errors import ConfigError, DatasetError


def subject_folds(groups: np.ndarray, num_folds: int = 10) -> np.ndarray:
    """The test fold (0..num_folds-1) of every sample, keeping each subject (group) in one fold."""
    groups = np.asarray(groups)
    subjects, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    if not 2 <= num_folds <= len(subjects):
        raise ConfigError(f"num_folds={num_folds}: expected 2..{len(subjects)} (the number of subjects)")
    fold_of_subject = np.empty(len(subjects), dtype=np.int64)
    fold_sizes = np.zeros(num_folds, dtype=np.int64)
    for subject in sorted(range(len(subjects)), key=lambda s: (-counts[s], subjects[s])):
        fold = int(np.argmin(fold_sizes))
        fold_of_subject[subject] = fold
        fold_sizes[fold] += counts[subject]
    return fold_of_subject[inverse]


def kfold_splits(split: FaceSplit, num_folds: int = 10) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train_indices, test_indices)`` of each fold, subject-independent by ``split.groups``."""
    if split.groups is None:
        raise DatasetError(f"split {split.name}: no subject ids (groups) for a subject-independent split")
    folds = subject_folds(split.groups, num_folds)
    return [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(num_folds)]


def fold_splits(split: FaceSplit, num_folds: int = 10) -> Dataset:
    """The test set of each fold, as splits ``fold0`` .. ``fold{num_folds-1}``."""
    return {f"fold{k}": split.subset(test, f"fold{k}") for k, (_, test) in enumerate(kfold_splits(split, num_folds))}


def select_folds(split: FaceSplit, fold: int | None, num_folds: int | None) -> Dataset:
    """The dataset option shared by CK+ and JAFFE.

    Neither option: ``{"all": split}``; ``num_folds`` alone: the test folds ``fold0`` ..;
    ``fold=k``: ``{"train": ..., "test": ...}`` of fold k of ``num_folds`` (default 10).
    """
    if fold is None:
        return {split.name: split} if num_folds is None else fold_splits(split, num_folds)
    num_folds = 10 if num_folds is None else num_folds
    if not 0 <= fold < num_folds:
        raise ConfigError(f"fold={fold}: expected 0..{num_folds - 1}")
    train, test = kfold_splits(split, num_folds)[fold]
    return {"train": split.subset(train, "train"), "test": split.subset(test, "test")}

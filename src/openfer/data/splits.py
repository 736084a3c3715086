"""Subject-independent k-fold splits for datasets without an official split (CK+, JAFFE).

Folds keep each subject (group) whole and, where labels are given, balance every class across folds:
subjects are taken largest first (ties in a seeded random order) and each goes to the fold where it adds
least to ``sum_c load[f, c] * n[s, c] / total_c**2 + load[f] * n[s] / N**2`` (the growth of the squared,
class-normalised fold loads; ties to the lowest fold). A class held by fewer subjects than there are
folds cannot reach every fold; :func:`subject_folds` warns naming it and the folds without it.

Fold ``k``'s checkpoint is selected on fold ``(k + 1) % num_folds`` (``validation=True``): a validation
part of its training folds, subject-disjoint from both its training and its test part.
"""

from __future__ import annotations

import warnings

import numpy as np

from openfer.data.base import Dataset, FaceSplit
from openfer.errors import ConfigError, DatasetError


def subject_folds(groups: np.ndarray, num_folds: int = 10, labels: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """The test fold (0..num_folds-1) of every sample, keeping each subject (group) in one fold.

    With ``labels``, each class is spread over the folds as evenly as whole subjects allow.
    """
    groups = np.asarray(groups)
    subjects, inverse = np.unique(groups, return_inverse=True)
    if not 2 <= num_folds <= len(subjects):
        raise ConfigError(f"num_folds={num_folds}: expected 2..{len(subjects)} (the number of subjects)")
    labels = np.zeros(len(groups), dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
    table = np.zeros((len(subjects), int(labels.max(initial=0)) + 1))
    np.add.at(table, (inverse, labels), 1)  # images of each subject (rows) in each class (columns)
    sizes, class_totals, total = table.sum(1), table.sum(0), table.sum()
    class_weights = np.divide(1.0, class_totals**2, out=np.zeros_like(class_totals), where=class_totals > 0)
    tie_break = np.random.default_rng(seed).permutation(len(subjects))
    load = np.zeros((num_folds, table.shape[1]))
    fold_of_subject = np.empty(len(subjects), dtype=np.int64)
    for subject in sorted(range(len(subjects)), key=lambda s: (-sizes[s], tie_break[s])):
        cost = load @ (table[subject] * class_weights) + load.sum(1) * sizes[subject] / total**2
        fold = int(np.argmin(cost))
        fold_of_subject[subject] = fold
        load[fold] += table[subject]
    for label in np.flatnonzero(class_totals):
        empty = np.flatnonzero(load[:, label] == 0)
        if len(empty):
            holders = int((table[:, label] > 0).sum())
            warnings.warn(
                f"class {label} is held by {holders} subject(s), fewer than needed for {num_folds} folds: "
                f"test folds {empty.tolist()} have no image of it",
                stacklevel=2,
            )
    return fold_of_subject[inverse]


def kfold_splits(split: FaceSplit, num_folds: int = 10, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train_indices, test_indices)`` of each fold, subject-independent by ``split.groups``, class-stratified."""
    folds = _folds(split, num_folds, seed)
    return [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(num_folds)]


def validation_fold(fold: int, num_folds: int) -> int:
    """The fold that selects fold ``fold``'s checkpoint: the next one, one of its training folds."""
    return (fold + 1) % num_folds


def _folds(split: FaceSplit, num_folds: int, seed: int) -> np.ndarray:
    if split.groups is None:
        raise DatasetError(f"split {split.name}: no subject ids (groups) for a subject-independent split")
    return subject_folds(split.groups, num_folds, split.labels, seed)


def fold_splits(split: FaceSplit, num_folds: int = 10, seed: int = 0) -> Dataset:
    """The test set of each fold, as splits ``fold0`` .. ``fold{num_folds-1}``."""
    folds = _folds(split, num_folds, seed)
    return {f"fold{k}": split.subset(np.flatnonzero(folds == k), f"fold{k}") for k in range(num_folds)}


def random_holdout(split: FaceSplit, test: float = 0.2, validation: float = 0.1, seed: int = 0) -> Dataset:
    """An image-level random split, stratified by class and seeded: ``test`` of each class's images to
    ``test``, ``validation`` to ``val`` (none when 0), the rest to ``train``. Subjects are not kept apart,
    as in the papers that report such splits (GCLNet's CK+ 4:1); prefer subject folds when comparing models."""
    if not 0 < test < 1 or not 0 <= validation < 1 or test + validation >= 1:
        raise ConfigError(f"holdout: test ({test}) and validation ({validation}) must be fractions with room left for training")
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for label in range(len(split.classes)):
        rows = rng.permutation(np.flatnonzero(split.labels == label))
        n_test, n_val = round(test * len(rows)), round(validation * len(rows))
        parts["test"].append(rows[:n_test])
        parts["val"].append(rows[n_test : n_test + n_val])
        parts["train"].append(rows[n_test + n_val :])
    names = ("train", "val", "test") if validation > 0 else ("train", "test")
    return {name: split.subset(np.sort(np.concatenate(parts[name])), name) for name in names}


def select_folds(
    split: FaceSplit, fold: int | None, num_folds: int | None, validation: bool = True, seed: int = 0, holdout: float | None = None
) -> Dataset:
    """The dataset option shared by CK+ and JAFFE.

    Neither option: ``{"all": split}``; ``num_folds`` alone: the test folds ``fold0`` ..; ``fold=k``:
    ``{"train", "val", "test"}`` of fold k of ``num_folds`` (default 10), ``val`` being fold
    :func:`validation_fold` (k + 1) and ``train`` the rest; ``validation=False``: ``{"train", "test"}``.
    ``holdout=f``: instead, the image-level random split of :func:`random_holdout` (``f`` of the images to
    test, 10 % to validation unless ``validation=False``), seeded by ``seed``.
    """
    if holdout is not None:
        if fold is not None or num_folds is not None:
            raise ConfigError("holdout: a random image-level split, not used with fold / num_folds")
        return random_holdout(split, holdout, 0.1 if validation else 0.0, seed)
    if fold is None:
        return {split.name: split} if num_folds is None else fold_splits(split, num_folds, seed)
    num_folds = 10 if num_folds is None else num_folds
    if not 0 <= fold < num_folds:
        raise ConfigError(f"fold={fold}: expected 0..{num_folds - 1}")
    if validation and num_folds < 3:
        raise ConfigError(f"num_folds={num_folds}: a validation fold needs 3 or more folds (or validation=False)")
    folds = _folds(split, num_folds, seed)
    test = folds == fold
    if not validation:
        return {"train": split.subset(np.flatnonzero(~test), "train"), "test": split.subset(np.flatnonzero(test), "test")}
    val = folds == validation_fold(fold, num_folds)
    return {
        "train": split.subset(np.flatnonzero(~test & ~val), "train"),
        "val": split.subset(np.flatnonzero(val), "val"),
        "test": split.subset(np.flatnonzero(test), "test"),
    }

"""Classification metrics from a confusion matrix: the one place their maths lives.

A confusion matrix ``C`` here has true classes as rows and predicted classes as columns, so
``C[i, j]`` counts samples of class ``i`` predicted as ``j``. For class ``k``:
precision = C[k, k] / sum_i C[i, k], recall = C[k, k] / sum_j C[k, j], F1 = 2 P R / (P + R);
a ratio with a zero denominator is 0 (as scikit-learn's ``zero_division=0``).
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(targets: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) int64 counts, rows = true class, columns = predicted class."""
    targets = np.asarray(targets, dtype=np.int64).ravel()
    predictions = np.asarray(predictions, dtype=np.int64).ravel()
    if targets.shape != predictions.shape:
        raise ValueError(f"{targets.size} targets but {predictions.size} predictions")
    for name, values in (("targets", targets), ("predictions", predictions)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} must lie in 0..{num_classes - 1}")
    counts = np.bincount(targets * num_classes + predictions, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def accuracy(confusion: np.ndarray) -> float:
    """Fraction of samples on the diagonal (0 for an empty matrix)."""
    total = confusion.sum()
    return float(np.trace(confusion) / total) if total else 0.0


def precision_recall_f1(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall and F1, each an array of length num_classes."""
    true_positives = np.diag(confusion)
    precision = _ratio(true_positives, confusion.sum(0))
    recall = _ratio(true_positives, confusion.sum(1))
    f1 = _ratio(2 * precision * recall, precision + recall)
    return precision, recall, f1


def balanced_accuracy(confusion: np.ndarray) -> float:
    """Mean per-class recall over the classes that occur among the targets (scikit-learn's definition)."""
    support = confusion.sum(1)
    present = support > 0
    if not present.any():
        return 0.0
    return float(np.mean(np.diag(confusion)[present] / support[present]))


def macro_f1(confusion: np.ndarray) -> float:
    """Unweighted mean of the per-class F1 over the classes that occur as targets or predictions (as scikit-learn)."""
    present = (confusion.sum(1) > 0) | (confusion.sum(0) > 0)
    if not present.any():
        return 0.0
    return float(precision_recall_f1(confusion)[2][present].mean())

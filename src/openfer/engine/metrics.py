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


def precision_recall_curve(scores: np.ndarray, positives: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(precision, recall, thresholds)`` of one class, one point per distinct score, highest threshold first.

    At threshold ``t`` the samples with ``score >= t`` count as predicted positive; precision = TP / (TP + FP),
    recall = TP / (number of positives), 0 when there are none.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    positives = np.asarray(positives, dtype=bool).ravel()
    if scores.shape != positives.shape:
        raise ValueError(f"{scores.size} scores but {positives.size} positives flags")
    order = np.argsort(-scores, kind="stable")
    scores, positives = scores[order], positives[order]
    # The last sample of each run of equal scores closes a threshold.
    last_of_run = np.r_[np.flatnonzero(np.diff(scores) != 0), scores.size - 1] if scores.size else np.zeros(0, np.int64)
    true_positives = np.cumsum(positives)[last_of_run]
    predicted = last_of_run + 1
    precision = _ratio(true_positives, predicted)
    recall = _ratio(true_positives, np.full(true_positives.shape, positives.sum()))
    return precision, recall, scores[last_of_run]


def average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """AP = sum_n (R_n - R_{n-1}) P_n over the points of :func:`precision_recall_curve` (R_0 = 0; scikit-learn's)."""
    recall = np.asarray(recall, dtype=np.float64)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * np.asarray(precision, dtype=np.float64)))


def calibration_bins(probabilities: np.ndarray, targets: np.ndarray, num_bins: int = 15) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(confidence, accuracy, count)`` per confidence bin: bin ``b`` (1-based) holds the samples whose top
    probability lies in ((b - 1) / M, b / M], M = ``num_bins``; an empty bin has confidence and accuracy 0."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64).ravel()
    if probabilities.ndim != 2 or len(probabilities) != len(targets):
        raise ValueError(f"need (N, C) probabilities and N targets, got {probabilities.shape} and {targets.shape}")
    confidence = probabilities.max(1) if len(targets) else np.zeros(0)
    correct = (probabilities.argmax(1) == targets) if len(targets) else np.zeros(0, bool)
    bins = np.clip(np.ceil(confidence * num_bins).astype(np.int64) - 1, 0, num_bins - 1)
    count = np.bincount(bins, minlength=num_bins)
    mean_confidence = _ratio(np.bincount(bins, weights=confidence, minlength=num_bins), count)
    mean_accuracy = _ratio(np.bincount(bins, weights=correct.astype(np.float64), minlength=num_bins), count)
    return mean_confidence, mean_accuracy, count


def expected_calibration_error(probabilities: np.ndarray, targets: np.ndarray, num_bins: int = 15) -> float:
    """ECE = sum_b (|B_b| / N) |acc(B_b) - conf(B_b)| over the bins of :func:`calibration_bins` (Guo et al., 2017,
    "On Calibration of Modern Neural Networks", Eq. 3): acc is the share of correct top-1 predictions in
    bin B_b, conf their mean top probability; 0 for no samples."""
    confidence, accuracy, count = calibration_bins(probabilities, targets, num_bins)
    total = count.sum()
    return float(np.sum(count * np.abs(accuracy - confidence)) / total) if total else 0.0


def true_label_ranks(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The rank (1 = top) of each sample's true label among its scores (FAML paper, Table 1).

    Rank = 1 + the classes scored higher + the tied classes of lower index, so rank 1 is exactly
    ``argmax == label`` (argmax takes the first of tied maxima). Works on probabilities or logits.
    """
    scores = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64).ravel()
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(f"expected (N, C) scores for {len(labels)} labels, got shape {scores.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        raise ValueError(f"labels must lie in 0..{scores.shape[1] - 1}")
    true = scores[np.arange(len(labels)), labels][:, None]
    lower_index = np.arange(scores.shape[1])[None, :] < labels[:, None]
    return 1 + (scores > true).sum(1) + ((scores == true) & lower_index).sum(1)


def rank_distribution(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Counts of the true label's rank: entry ``r - 1`` = samples whose true label ranks ``r`` (length C)."""
    num_classes = np.asarray(probabilities).shape[-1]
    return np.bincount(true_label_ranks(probabilities, labels) - 1, minlength=num_classes)


def soft_cross_entropy(probabilities: np.ndarray, distributions: np.ndarray, eps: float = 1e-12) -> float:
    """Mean cross-entropy ``-sum_k q_k log p_k`` of predicted ``p`` against target distributions ``q`` (nats),
    as the FERPlus paper scores its probability mode; ``p`` is clipped at ``eps``."""
    p, q = _distributions(probabilities, distributions)
    return float(-(q * np.log(np.clip(p, eps, None))).sum(1).mean()) if len(q) else 0.0


def kl_divergence(probabilities: np.ndarray, distributions: np.ndarray, eps: float = 1e-12) -> float:
    """Mean ``KL(q || p) = sum_k q_k log(q_k / p_k)`` (nats; terms with ``q_k = 0`` are 0; ``p`` clipped at ``eps``)."""
    p, q = _distributions(probabilities, distributions)
    if not len(q):
        return 0.0
    ratio = np.log(np.where(q > 0, q, 1.0)) - np.log(np.clip(p, eps, None))
    return float((np.where(q > 0, q * ratio, 0.0)).sum(1).mean())


def _distributions(probabilities: np.ndarray, distributions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probabilities, dtype=np.float64)
    q = np.asarray(distributions, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 2:
        raise ValueError(f"need two (N, C) arrays of one shape, got {p.shape} and {q.shape}")
    return p, q

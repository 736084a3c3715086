"""Plots of a model's predictions on a split as PNG bytes: per-class precision-recall curves, the reliability
diagram with its expected calibration error, the confusion matrix and the training curves of a run.

The maths lives in :mod:`openfer.engine.metrics`; the confusion matrix and training-curve plots are the
engine's own (:func:`openfer.engine.evaluate.plot_confusion_matrix`, :func:`openfer.engine.callbacks.plot_curves`).
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from openfer.engine import metrics
from openfer.engine.evaluate import plot_confusion_matrix

__all__ = ["plot_confusion_matrix", "plot_precision_recall", "plot_reliability", "plot_training_curves"]

CALIBRATION_BINS = 15


def _png(figure) -> bytes:  # type: ignore[no-untyped-def]
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def plot_precision_recall(probabilities: np.ndarray, targets: np.ndarray, classes: Sequence[str], title: str = "") -> bytes:
    """PNG of one precision-recall curve per class (one class against the rest), average precision in the legend."""
    import matplotlib
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 5.5))
    axis = figure.subplots()
    colours = matplotlib.colormaps["tab10"]
    targets = np.asarray(targets)
    for index, name in enumerate(classes):
        positives = targets == index
        if not positives.any():
            continue
        precision, recall, _ = metrics.precision_recall_curve(probabilities[:, index], positives)
        ap = metrics.average_precision(precision, recall)
        axis.step(np.r_[0.0, recall], np.r_[precision[0], precision], where="post", color=colours(index % 10), label=f"{name} (AP {ap:.2f})")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.02)
    axis.set_xlabel("recall")
    axis.set_ylabel("precision")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="lower left")
    axis.set_title(title or "precision-recall per class", fontsize=10)
    return _png(figure)


def plot_reliability(probabilities: np.ndarray, targets: np.ndarray, num_bins: int = CALIBRATION_BINS, title: str = "") -> bytes:
    """PNG of the reliability diagram: accuracy per confidence bin against the diagonal, with the ECE
    (:func:`openfer.engine.metrics.expected_calibration_error`) in the title and the bin counts below."""
    from matplotlib.figure import Figure

    confidence, accuracy, count = metrics.calibration_bins(probabilities, targets, num_bins)
    ece = metrics.expected_calibration_error(probabilities, targets, num_bins)
    edges = np.linspace(0, 1, num_bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    figure = Figure(figsize=(6, 6.5))
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 1)})
    filled = count > 0
    top.bar(centres[filled], accuracy[filled], width=1 / num_bins, edgecolor="black", color="tab:blue", label="accuracy")
    top.bar(centres[filled], (confidence - accuracy)[filled], bottom=accuracy[filled], width=1 / num_bins, color="tab:red", alpha=0.35, label="gap to confidence")
    top.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.legend(fontsize=8, loc="upper left")
    top.set_title(title or f"reliability ({num_bins} bins): ECE {ece:.2%}", fontsize=10)
    bottom.bar(centres, count, width=1 / num_bins, color="grey", edgecolor="black")
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("confidence (top probability)")
    bottom.set_ylabel("faces")
    return _png(figure)


def plot_training_curves(metrics_csv: str | Path) -> bytes | None:
    """PNG of a run's loss and accuracy per epoch from its ``metrics.csv`` (the training callback's plot), or None."""
    from openfer.engine.callbacks import plot_curves

    metrics_csv = Path(metrics_csv)
    if not metrics_csv.is_file():
        return None
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "curves.png"
        plot_curves(metrics_csv, output)
        return output.read_bytes() if output.is_file() else None

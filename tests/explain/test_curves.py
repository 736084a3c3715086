"""PR and calibration maths (checked by hand and against scikit-learn) and the PNG plots."""

from __future__ import annotations

import numpy as np
import pytest

from openfer.engine import metrics
from openfer.explain import plot_precision_recall, plot_reliability, plot_training_curves

PNG = b"\x89PNG\r\n\x1a\n"


def test_precision_recall_curve_by_hand():
    precision, recall, thresholds = metrics.precision_recall_curve([0.9, 0.8, 0.8, 0.1], [1, 0, 1, 0])
    np.testing.assert_allclose(thresholds, [0.9, 0.8, 0.1])
    np.testing.assert_allclose(precision, [1.0, 2 / 3, 0.5])
    np.testing.assert_allclose(recall, [0.5, 1.0, 1.0])
    assert metrics.average_precision(precision, recall) == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)


def test_average_precision_matches_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    scores = np.round(rng.random(500), 2)  # ties included
    positives = rng.random(500) < 0.3
    ours = metrics.average_precision(*metrics.precision_recall_curve(scores, positives)[:2])
    assert ours == pytest.approx(sklearn_metrics.average_precision_score(positives, scores))


def test_expected_calibration_error_by_hand():
    # Two faces at confidence 0.95 (one right), two at 0.55 (both right): |0.5 - 0.95| / 2 + |1 - 0.55| / 2.
    probabilities = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.45, 0.55]])
    targets = np.array([0, 1, 0, 1])
    confidence, accuracy, count = metrics.calibration_bins(probabilities, targets, 15)
    assert count.sum() == 4 and count[14] == 2 and count[8] == 2
    assert metrics.expected_calibration_error(probabilities, targets) == pytest.approx(0.45)
    one_hot = np.eye(3)[[0, 1, 2]]
    assert metrics.expected_calibration_error(one_hot, np.array([0, 1, 2])) == 0.0


def test_plots_are_png(run_dir):
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(7), 200)
    targets = rng.integers(0, 7, 200)
    classes = [f"c{i}" for i in range(7)]
    assert plot_precision_recall(probabilities, targets, classes).startswith(PNG)
    assert plot_reliability(probabilities, targets).startswith(PNG)
    assert plot_training_curves(run_dir / "logs" / "metrics.csv").startswith(PNG)
    assert plot_training_curves(run_dir / "missing.csv") is None

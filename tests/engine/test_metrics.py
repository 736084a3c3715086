import numpy as np
import pytest

from openfer.engine import metrics

# Three classes, ten samples. Worked by hand:
#   targets      0 0 0 0 1 1 1 2 2 2
#   predictions  0 0 1 2 1 1 0 2 2 1
# confusion (rows true, columns predicted):
#   [[2, 1, 1],
#    [1, 2, 0],
#    [0, 1, 2]]
# precision = diag / column sums = 2/3, 2/4, 2/3
# recall    = diag / row sums    = 2/4, 2/3, 2/3
# F1 = 2PR/(P+R): class 0: 2(2/3)(1/2)/(7/6) = 4/7; class 1: 4/7; class 2: 2/3
# accuracy = 6/10; balanced accuracy = (1/2 + 2/3 + 2/3)/3 = 11/18; macro F1 = (4/7 + 4/7 + 2/3)/3 = 38/63
TARGETS = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
PREDICTIONS = np.array([0, 0, 1, 2, 1, 1, 0, 2, 2, 1])


def test_metrics_match_the_hand_computed_example() -> None:
    confusion = metrics.confusion_matrix(TARGETS, PREDICTIONS, 3)
    np.testing.assert_array_equal(confusion, [[2, 1, 1], [1, 2, 0], [0, 1, 2]])
    precision, recall, f1 = metrics.precision_recall_f1(confusion)
    np.testing.assert_allclose(precision, [2 / 3, 2 / 4, 2 / 3])
    np.testing.assert_allclose(recall, [2 / 4, 2 / 3, 2 / 3])
    np.testing.assert_allclose(f1, [4 / 7, 4 / 7, 2 / 3])
    assert metrics.accuracy(confusion) == pytest.approx(0.6)
    assert metrics.balanced_accuracy(confusion) == pytest.approx(11 / 18)
    assert metrics.macro_f1(confusion) == pytest.approx(38 / 63)


def test_absent_classes_count_as_zero_and_leave_balanced_accuracy() -> None:
    # Class 2 never occurs and is never predicted: its ratios are 0 and it is left out of the means.
    confusion = metrics.confusion_matrix([0, 0, 1, 1], [0, 1, 1, 1], 3)
    precision, recall, f1 = metrics.precision_recall_f1(confusion)
    assert precision[2] == recall[2] == f1[2] == 0.0
    assert metrics.balanced_accuracy(confusion) == pytest.approx((1 / 2 + 1) / 2)
    assert metrics.macro_f1(confusion) == pytest.approx((2 / 3 + 4 / 5) / 2)
    empty = np.zeros((3, 3), dtype=np.int64)
    assert metrics.accuracy(empty) == metrics.balanced_accuracy(empty) == metrics.macro_f1(empty) == 0.0


def test_confusion_matrix_rejects_out_of_range_labels() -> None:
    with pytest.raises(ValueError, match="predictions"):
        metrics.confusion_matrix([0, 1], [0, 3], 3)
    with pytest.raises(ValueError, match="2 targets but 1"):
        metrics.confusion_matrix([0, 1], [0], 3)


def test_true_label_ranks_and_their_distribution() -> None:
    from openfer.engine.metrics import rank_distribution, true_label_ranks

    scores = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.4, 0.4, 0.2], [0.4, 0.4, 0.2]])
    labels = np.array([0, 0, 0, 0, 1])
    # ties: the lower index ranks first, as argmax does; so rank 1 is exactly argmax == label
    assert true_label_ranks(scores, labels).tolist() == [1, 3, 3, 1, 2]
    assert rank_distribution(scores, labels).tolist() == [2, 1, 2]
    assert rank_distribution(np.log(scores), labels).tolist() == [2, 1, 2]  # logits rank the same
    assert (true_label_ranks(scores, labels) == 1).tolist() == (scores.argmax(1) == labels).tolist()
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        rank_distribution(scores, np.array([0, 0, 0, 0, 3]))


def test_rank_plot_is_a_png() -> None:
    from openfer.engine.plots import plot_rank_distribution

    assert plot_rank_distribution(np.array([80, 12, 5, 2, 1, 0, 0]), "FAML on RAF-DB").startswith(b"\x89PNG")

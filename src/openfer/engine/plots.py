"""Plots of evaluation results as PNG bytes (matplotlib's object API renders with Agg; no display needed)."""

from __future__ import annotations

import io

import numpy as np


def plot_rank_distribution(counts: np.ndarray, title: str = "") -> bytes:
    """Bars of the share of samples whose true label ranks 1, 2, ... (FAML paper, Table 1), with the counts."""
    from matplotlib.figure import Figure

    counts = np.asarray(counts, dtype=np.int64)
    share = 100 * counts / max(1, counts.sum())
    ranks = np.arange(1, len(counts) + 1)
    figure = Figure(figsize=(1.0 + 0.6 * len(counts), 3.2))
    axis = figure.subplots()
    bars = axis.bar(ranks, share, color="#4c72b0")
    for bar, count in zip(bars, counts):
        axis.annotate(str(count), (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=8)
    axis.set(xlabel="rank of the true label", ylabel="% of samples", xticks=ranks, ylim=(0, 105), title=title or "true-label rank")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()

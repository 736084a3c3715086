"""Training callbacks: a plot of the train/val curves after every epoch."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import lightning as L


class CurvePlot(L.Callback):
    """After each validation epoch, plot loss and accuracy curves from the CSV log to ``curves.png``."""

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or trainer.log_dir is None:
            return
        for logger in trainer.loggers:
            if isinstance(logger, L.pytorch.loggers.CSVLogger):
                logger.save()
                plot_curves(Path(logger.log_dir) / "metrics.csv", Path(logger.log_dir) / "curves.png")


def plot_curves(metrics_csv: Path, output: Path) -> None:
    """Plot ``train/loss``, ``val/loss``, ``train/acc`` and ``val/acc`` per epoch from a Lightning CSV log."""
    if not metrics_csv.is_file():
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, dict[int, float]] = {}
    with open(metrics_csv, newline="") as f:
        for row in csv.DictReader(f):
            if not row.get("epoch"):
                continue
            epoch = int(float(row["epoch"]))
            for key in ("train/loss", "val/loss", "train/acc", "val/acc"):
                if row.get(key):
                    series.setdefault(key, {})[epoch] = float(row[key])
    if not series:
        return
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for axis, kind in ((left, "loss"), (right, "acc")):
        for stage in ("train", "val"):
            points = series.get(f"{stage}/{kind}", {})
            if points:
                axis.plot(list(points), list(points.values()), marker="o", label=stage)
        axis.set_xlabel("epoch")
        axis.set_ylabel(kind)
        axis.legend()
        axis.grid(alpha=0.3)
    figure.tight_layout()
    fd, tmp = tempfile.mkstemp(dir=output.parent, suffix=".png")
    os.close(fd)
    figure.savefig(tmp, dpi=100)
    plt.close(figure)
    os.replace(tmp, output)

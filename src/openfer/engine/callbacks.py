"""Training callbacks: a plot of the train/val curves after every epoch."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import CSVLogger

from openfer.files import atomic_write


class CurvePlot(L.Callback):
    """Plot loss and accuracy per epoch from the CSV log to ``curves.png`` beside ``metrics.csv``.

    Lightning logs an epoch's training metrics after every epoch-end hook has run, so the plot is drawn
    when the next epoch starts and when training ends, the first moments the CSV holds the whole epoch.
    """

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._plot(trainer)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._plot(trainer)

    def _plot(self, trainer: L.Trainer) -> None:
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            if isinstance(logger, CSVLogger):
                logger.save()
                plot_curves(Path(logger.log_dir) / "metrics.csv", Path(logger.log_dir) / "curves.png")


def plot_curves(metrics_csv: Path, output: Path) -> None:
    """Plot ``train/loss``, ``val/loss``, ``train/acc`` and ``val/acc`` per epoch from a Lightning CSV log."""
    if not metrics_csv.is_file():
        return
    from matplotlib.figure import Figure

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
    figure = Figure(figsize=(10, 4))
    left, right = figure.subplots(1, 2)
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
    with atomic_write(output) as f:
        figure.savefig(f, format="png", dpi=100)


def cycle_ends(restart_epochs: int, t_mult: int = 1, max_epochs: int = 10**6) -> list[int]:
    """The epochs (1-based counts) at which the warm-restart cycles of ``cosine_restarts`` end, up to ``max_epochs``:
    ``T_0, T_0 + T_0 m, T_0 + T_0 m + T_0 m^2, ...`` for ``T_0 = restart_epochs``, ``m = t_mult``."""
    if restart_epochs < 1 or t_mult < 1:
        raise ValueError(f"restart_epochs and t_mult must be >= 1, got {restart_epochs} and {t_mult}")
    ends, length, end = [], restart_epochs, restart_epochs
    while end <= max_epochs:
        ends.append(end)
        length *= t_mult
        end += length
    return ends


class SnapshotCheckpoint(L.Callback):
    """Snapshot ensembles (Huang et al., 2017, "Snapshot Ensembles: Train 1, get M for free"): at the end of each
    warm-restart cycle of ``cosine_restarts`` the weights are saved as ``checkpoints/snapshot_<K>.ckpt`` (K = 1, 2, ...),
    the learning rate then being at its minimum. ``openfer ensemble pack`` or ``openfer weights ensemble`` packs them."""

    def __init__(self, dirpath: str | Path, restart_epochs: int, t_mult: int = 1) -> None:
        self.dirpath = Path(dirpath)
        self.restart_epochs, self.t_mult = int(restart_epochs), int(t_mult)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        ends = cycle_ends(self.restart_epochs, self.t_mult, trainer.current_epoch + 1)
        if ends and ends[-1] == trainer.current_epoch + 1:
            trainer.save_checkpoint(self.dirpath / f"snapshot_{len(ends)}.ckpt")

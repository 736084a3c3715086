"""Writing a run's files safely: atomic checkpoints (via :mod:`openfer.files`) and a CSV log that survives resuming."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Mapping

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_only

from openfer.files import atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file in its own folder, then renames it into place.

    Lightning's ``_atomic_save`` uses an fsspec transaction whose temporary file lives in the system
    temp folder; when that is another file system, the commit is a copy, and a run killed during it
    leaves a truncated ``last.ckpt``. A rename within one folder is atomic.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        with atomic_write(path) as f:
            torch.save(checkpoint, f)


class ResumableCSVLogger(CSVLogger):
    """A CSVLogger that keeps the rows of the run it resumes.

    Lightning's CSV writer deletes an existing ``metrics.csv`` when it starts. With ``resume=True``
    the earlier rows are read first and written back ahead of the resumed run's first rows, less any
    logged at or after the resumed run's first step (those are logged again).
    """

    def __init__(self, *args: Any, resume: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        metrics_csv = Path(self.log_dir) / "metrics.csv"
        self._earlier_rows: list[dict[str, str]] = []
        if resume and metrics_csv.is_file():
            with open(metrics_csv, newline="") as f:
                self._earlier_rows = list(csv.DictReader(f))

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        if self._earlier_rows:
            kept = [row for row in self._earlier_rows if step is None or float(row.get("step") or 0) < step]
            self.experiment.metrics.extend(kept)
            self._earlier_rows = []
        super().log_metrics(metrics, step)

"""Writing a run's files safely: atomic writes, atomic checkpoints and a CSV log that survives resuming."""

from __future__ import annotations

import csv
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Mapping

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_only


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_open(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through: a temporary file beside it, renamed into place on success.

    Readers see the old file or the whole new one, never a partial one; on an error the target is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
        with atomic_open(path) as f:
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

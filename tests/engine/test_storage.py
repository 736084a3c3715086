import csv
from pathlib import Path

import pytest
import torch

from openfer.engine.storage import AtomicCheckpointIO, ResumableCSVLogger


def test_atomic_checkpoint_io_keeps_the_previous_checkpoint_when_a_save_fails(tmp_path: Path) -> None:
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"global_step": 1, "weight": torch.ones(3)}, path)
    with pytest.raises(Exception):
        io.save_checkpoint({"global_step": 2, "unpicklable": lambda: None}, path)
    assert torch.load(path, weights_only=True)["global_step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_resumable_csv_logger_keeps_earlier_rows_before_the_resumed_step(tmp_path: Path) -> None:
    first = ResumableCSVLogger(tmp_path, name="logs", version="")
    for step in range(4):
        first.log_metrics({"loss": float(step)}, step=step)
    first.save()
    resumed = ResumableCSVLogger(tmp_path, name="logs", version="", resume=True)
    resumed.log_metrics({"loss": 20.0, "acc": 0.5}, step=2)
    resumed.save()
    with open(tmp_path / "logs" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(row["step"], row["loss"], row["acc"]) for row in rows] == [("0", "0.0", ""), ("1", "1.0", ""), ("2", "20.0", "0.5")]

"""benchmarks/zoo_cpu.py keeps the training time of a run stopped part-way, so a resumed run's total covers every part."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def zoo():
    spec = importlib.util.spec_from_file_location("zoo_cpu", REPO / "benchmarks" / "zoo_cpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_stopped_run_keeps_its_seconds_and_the_resumed_run_adds_to_them(zoo, tmp_path, monkeypatch) -> None:
    def stopped(*args, **kwargs):
        raise SystemExit(128 + signal.SIGTERM)

    monkeypatch.setattr(subprocess, "run", stopped)
    with pytest.raises(SystemExit):
        zoo.train("resnet18", Path("configs/resnet18_ferplus_cpu.yaml"), runs=tmp_path)
    first = json.loads((tmp_path / "resnet18" / "train_seconds.json").read_text())["seconds"]
    assert first >= 0 and not (tmp_path / "resnet18" / "done.json").exists()

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0))
    zoo.train("resnet18", Path("configs/resnet18_ferplus_cpu.yaml"), runs=tmp_path)
    done = json.loads((tmp_path / "resnet18" / "done.json").read_text())
    assert done["seconds"] >= first and done["seconds"] == json.loads((tmp_path / "resnet18" / "train_seconds.json").read_text())["seconds"]


def test_sigterm_becomes_the_exit_that_records_the_time(zoo, monkeypatch) -> None:
    previous = signal.signal(signal.SIGTERM, zoo._stop)
    try:
        with pytest.raises(SystemExit) as stop:
            os.kill(os.getpid(), signal.SIGTERM)
        assert stop.value.code == 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)

"""A reduced run of benchmarks/serve_load.py against a real ``openfer serve`` on loopback (uvicorn subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("httpx")

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_hundred_requests_at_concurrency_16_get_only_200_and_503_and_memory_stays_flat(random_model_file: Path, tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8))
    figures_file = tmp_path / "figures.json"
    command = [
        sys.executable, str(REPO / "benchmarks" / "serve_load.py"), "--requests", "100", "--concurrency", "16", "--slow-uploads", "8",
        "--photo", str(photo), "--json", str(figures_file), "--model", str(random_model_file), "--backend", "torch", "--detector", "haar",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    figures = json.loads(figures_file.read_text())
    assert set(figures["statuses"]) <= {"200", "503"} and sum(figures["statuses"].values()) == 100 and figures["statuses"]["200"] >= 1
    assert set(figures["slow_statuses"]) <= {"400", "413", "503"} and sum(figures["slow_statuses"].values()) == 8
    assert figures["rss_growth_mb"] < 50

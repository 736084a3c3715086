"""Fixtures shared by the whole test suite. Keep each small; add new ones at the end."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dataset() -> Callable[[str], Path]:
    """``shared_dataset("fer2013")``: that folder of the shared datasets, or skip the test if it is absent.

    The shared folder is ``$OPENFER_SHARED``, else ``shared/`` beside the repository.
    """
    shared = Path(os.environ.get("OPENFER_SHARED", REPO.parent / "shared"))

    def locate(name: str) -> Path:
        path = shared / "datasets" / name
        if not path.exists():
            pytest.skip(f"shared dataset {name} not found at {path} (set OPENFER_SHARED)")
        return path

    return locate


@pytest.fixture(scope="session")
def fer2013_parsed(shared_dataset, tmp_path_factory) -> SimpleNamespace:
    """The shared FER2013 parsed once per test run: ``root``, ``cache`` (a session cache folder holding it
    parsed), ``data`` (its splits) and ``parse_seconds``. Every FER2013 fixture below builds on this one."""
    from openfer.data.fer2013 import load_fer2013

    root = shared_dataset("fer2013")
    cache = tmp_path_factory.mktemp("fer2013-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENFER_CACHE", str(cache))
        start = time.perf_counter()
        data = load_fer2013(root)
        seconds = time.perf_counter() - start
    return SimpleNamespace(root=root, cache=cache, data=data, parse_seconds=seconds)


@pytest.fixture(scope="session")
def fer2013_cache(fer2013_parsed) -> tuple[Path, Path]:
    """``(root, cache)``: the shared FER2013 and the session cache folder holding it parsed.

    Point ``OPENFER_CACHE`` at ``cache`` (``monkeypatch.setenv``) and readers load it in well under a second.
    """
    return fer2013_parsed.root, fer2013_parsed.cache


@pytest.fixture(scope="session")
def tiny_fer2013(tmp_path_factory) -> Path:
    """``fer2013.csv`` in the real layout: 64 / 16 / 16 random 48 x 48 faces in Training / PublicTest / PrivateTest,
    labels 0..6 in turn."""
    import numpy as np

    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("tiny-fer2013") / "fer2013.csv"
    lines = ["emotion,pixels,Usage"]
    for usage, count in (("Training", 64), ("PublicTest", 16), ("PrivateTest", 16)):
        for i in range(count):
            lines.append(f"{i % 7},{' '.join(map(str, rng.integers(0, 256, 48 * 48)))},{usage}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def shared_photos() -> Path:
    """The shared photos folder (group photos with labelled face boxes, a no-face photo, a video), or skip."""
    path = Path(os.environ.get("OPENFER_SHARED", REPO.parent / "shared")) / "photos"
    if not (path / "voc_faces_testing.xml").is_file():
        pytest.skip(f"shared photos not found at {path} (set OPENFER_SHARED)")
    return path


@pytest.fixture(scope="session")
def random_model_file(tmp_path_factory) -> Path:
    """Weights of a randomly initialised ``openfer_vgg`` (seed 0) with the shipped model's metadata."""
    import torch

    import openfer
    from openfer.checkpoints import save_safetensors
    from openfer.labels import FER2013

    torch.manual_seed(0)
    net = openfer.create_model("openfer_vgg", num_classes=7)
    path = tmp_path_factory.mktemp("random-model") / "openfer_vgg_random.safetensors"
    metadata = {"model": "openfer_vgg", "model_options": {}, "classes": list(FER2013), "input_size": [1, 48, 48], "mean": 0.5, "std": 0.25}
    save_safetensors(net.state_dict(), path, metadata=metadata)
    return path


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """A folder (with a subfolder) of good images and every kind of bad or odd file (recogniser and ``predict``)."""
    import struct

    import cv2
    import numpy as np

    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    face = rng.integers(40, 255, (64, 80, 3), dtype=np.uint8)
    cv2.imwrite(str(folder / "good.jpg"), face)
    cv2.imwrite(str(folder / "sub" / "grey.png"), face[:, :, 0])
    cv2.imwrite(str(folder / "rgba.png"), np.dstack([face, np.full(face.shape[:2], 128, np.uint8)]))
    cv2.imwrite(str(folder / "deep16.png"), face.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "black.png"), np.zeros((40, 40, 3), np.uint8))  # readable, no face
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.png").write_text("not an image at all\n")
    good = (folder / "good.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    # A PNG header that declares 30000 x 30000 pixels: refused before any pixel is decoded.
    (folder / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 30000, 30000) + b"\x08\x02\x00\x00\x00" + b"\x00" * 64)
    (folder / "broken.mp4").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (folder / "notes.txt").write_text("a file that is neither an image nor a video\n")
    return folder



@pytest.fixture
def headless_chromium(tmp_path: Path):
    """A selenium driver for the system Chromium, headless, with a fresh profile and the browser's console log
    kept; skips with the reason when Chromium, chromedriver or selenium is missing."""
    import shutil

    browser = next((shutil.which(name) for name in ("chromium", "chromium-browser") if shutil.which(name)), None)
    driver_path = shutil.which("chromedriver")
    if not browser or not driver_path:
        pytest.skip("no chromium + chromedriver on PATH (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install -e '.[dev]')")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()

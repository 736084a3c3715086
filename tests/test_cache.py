"""The cache folder and the array cache: an unreadable cache file counts as absent and is rebuilt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openfer import cache


@pytest.fixture(autouse=True)
def cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("OPENFER_CACHE", str(folder))
    return folder


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert cache.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("OPENFER_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "openfer"


def test_saved_arrays_load_back(cache_folder: Path) -> None:
    arrays = {"pixels": np.arange(600, dtype=np.uint8).reshape(2, 300), "labels": np.array([3, 1])}
    cache.save("toy", arrays)
    loaded = cache.load("toy")
    assert loaded is not None and loaded.keys() == arrays.keys()
    for name in arrays:
        np.testing.assert_array_equal(loaded[name], arrays[name])
    assert [p.name for p in cache_folder.iterdir()] == ["toy.npz"]


@pytest.mark.parametrize("keep", [0.5, 0.1, 0.0])
def test_a_truncated_cache_file_is_absent_and_rebuilt(cache_folder: Path, keep: float) -> None:
    arrays = {"pixels": np.arange(20000, dtype=np.int64), "labels": np.arange(7)}
    cache.save("toy", arrays)
    path = cache_folder / "toy.npz"
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])  # as a run killed mid-copy would leave it
    assert cache.load("toy") is None
    cache.save("toy", arrays)
    np.testing.assert_array_equal(cache.load("toy")["pixels"], arrays["pixels"])


def test_a_file_that_is_not_an_npz_is_absent(cache_folder: Path) -> None:
    cache_folder.mkdir()
    (cache_folder / "toy.npz").write_bytes(b"PK\x03\x04 not really a zip archive")
    assert cache.load("toy") is None

"""Atomic writes: the umask's mode, data synced before the rename, nothing half-written or left behind."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from openfer import files
from openfer.files import PendingFile, atomic_path, atomic_write, write_bytes


@pytest.fixture
def umask():
    """``umask(mask)`` sets the process umask for the test; the old one is restored afterwards."""
    original = os.umask(0o022)
    os.umask(original)
    yield os.umask
    os.umask(original)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_get_the_mode_the_umask_gives(tmp_path: Path, umask) -> None:
    umask(0o022)
    with atomic_write(tmp_path / "a.bin") as handle:
        handle.write(b"data")
    with atomic_write(tmp_path / "b.txt", "w") as handle:
        handle.write("text")
    with atomic_path(tmp_path / "c.png") as temporary:
        temporary.write_bytes(b"png")
    write_bytes(tmp_path / "d.json", b"{}")
    assert {p.name: mode(p) for p in tmp_path.iterdir()} == {"a.bin": 0o644, "b.txt": 0o644, "c.png": 0o644, "d.json": 0o644}
    umask(0o077)
    write_bytes(tmp_path / "private", b"secret")
    assert mode(tmp_path / "private") == 0o600


def test_writers_that_replace_the_temporary_file_still_get_the_umask_mode(tmp_path: Path, umask) -> None:
    """safetensors writes its own file (mode 0600) over the temporary path; the commit restores the umask's mode."""
    import torch

    from openfer.checkpoints import save_safetensors

    umask(0o022)
    save_safetensors({"weight": torch.zeros(3)}, tmp_path / "w.safetensors")
    with atomic_path(tmp_path / "replaced.bin") as temporary:
        temporary.unlink()
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(descriptor)
    assert mode(tmp_path / "w.safetensors") == 0o644
    assert mode(tmp_path / "replaced.bin") == 0o644


def test_atomic_write_replaces_whole_files_and_leaves_the_old_one_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "summary.json"
    with atomic_write(target) as f:
        f.write(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b"half of the new")
            raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["summary.json"]


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit, OSError])
def test_an_interrupted_write_leaves_the_old_content_and_no_temporary_file(tmp_path: Path, error: type[BaseException]) -> None:
    target = tmp_path / "records.csv"
    target.write_text("old\n")
    with pytest.raises(error):
        with atomic_write(target, "w", newline="") as handle:
            handle.write("new, half written")
            raise error()
    with pytest.raises(error):
        with atomic_path(tmp_path / "clip.mp4") as temporary:
            temporary.write_bytes(b"frames")
            raise error()
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["records.csv"]


def test_writes_are_visible_only_after_the_block(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_write(target, "w") as handle:
        handle.write("new")
        handle.flush()
        assert target.read_text() == "old"
        (temporary,) = [p for p in tmp_path.iterdir() if p != target]
        assert temporary.name.startswith(".out.txt.") and temporary.name.endswith(".tmp")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_temporary_paths_keep_the_suffix_and_live_beside_the_target(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "deep" / "clip.mp4") as temporary:
        assert temporary.parent == tmp_path / "deep" and temporary.name.startswith(".clip.mp4.")
        assert temporary.suffixes[-2:] == [".tmp", ".mp4"]
        temporary.write_bytes(b"video")
    assert (tmp_path / "deep" / "clip.mp4").read_bytes() == b"video"


def test_data_is_synced_before_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(files.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(files.os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    write_bytes(tmp_path / "a", b"1")
    with atomic_path(tmp_path / "b") as temporary:
        temporary.write_bytes(b"2")
    pending = PendingFile(tmp_path / "c")
    pending.temporary.write_bytes(b"3")
    pending.commit()
    assert events == ["fsync", "replace"] * 3


def test_pending_file_discard_and_finish(tmp_path: Path) -> None:
    pending = PendingFile(tmp_path / "video.mp4", keep_suffix=True)
    assert pending.temporary.is_file() and pending.temporary.suffix == ".mp4"
    pending.finish(commit=False)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="mode must be"):
        with atomic_write(tmp_path / "x", "a"):
            pass


def test_sigterm_during_a_cli_command_removes_the_temporary_file(tmp_path: Path) -> None:
    """The openfer command turns SIGTERM into SystemExit, so the write's cleanup runs (exit status 143)."""
    script = f"""
import os, signal
from openfer.cli import _sigterm_as_exit
from openfer.files import atomic_write
with _sigterm_as_exit():
    with atomic_write({str(tmp_path / "out.bin")!r}) as handle:
        handle.write(b"partial")
        os.kill(os.getpid(), signal.SIGTERM)
        handle.write(b"never reached")
"""
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 143, completed.stderr
    assert list(tmp_path.iterdir()) == []


def test_every_output_of_predict_has_the_umask_mode(shared_photos: Path, random_model_file: Path, tmp_path: Path, umask) -> None:
    from openfer.cli import main

    umask(0o022)
    output, annotated, summary = tmp_path / "out" / "x.csv", tmp_path / "d", tmp_path / "s"
    status = main([
        "predict", str(shared_photos / "obama_240p.jpg"), str(shared_photos / "short_hamilton_clip.mp4"),
        "--stride", "30", "--output", str(output), "--save-annotated", str(annotated), "--summary-dir", str(summary),
        "--model", str(random_model_file), "--backend", "torch", "--detector", "haar", "--quiet",
    ])
    assert status == 0
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    names = {p.relative_to(tmp_path).as_posix() for p in written}
    assert {"out/x.csv", "d/obama_240p.jpg", "d/short_hamilton_clip.mp4", "s/summary.csv", "s/short_hamilton_clip.timeline.png"} <= names
    assert {p.relative_to(tmp_path).as_posix(): oct(mode(p)) for p in written} == {name: oct(0o644) for name in names}
    assert not [p for p in tmp_path.rglob(".*")]

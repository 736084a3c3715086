"""Writing files atomically: the one way every openfer writer puts a file in place.

A file is written under a hidden temporary name in its destination folder (``.NAME.RANDOM.tmp``), flushed
to disk (``fsync``) and renamed onto its name, so readers see the old file or the whole new one, never a
partial one. The temporary file is created with mode ``0o666`` and the kernel applies the process umask,
so the result has the mode any new file gets (0644 under umask 022; ``mkstemp``'s 0600 is never used),
without reading or changing the umask.

On an exception inside the write, including ``KeyboardInterrupt`` and ``SystemExit``, the temporary file
is removed and the old file stays. Nothing here installs a signal handler: a process killed by SIGTERM's
default action runs no cleanup, so an application that wants its writes cleaned up on SIGTERM turns the
signal into ``SystemExit`` (the ``openfer`` command does, for the duration of a command).
"""

from __future__ import annotations

import os
import stat
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

_TEMPORARY_SUFFIX = ".tmp"


class PendingFile:
    """The temporary file of one atomic write to ``path``: write to :attr:`temporary`, then :meth:`commit`
    (rename onto ``path``) or :meth:`discard` (delete). ``keep_suffix``: the temporary name ends with
    ``path``'s suffix too (for writers that choose the format by the file name, such as video writers)."""

    def __init__(self, path: str | Path, keep_suffix: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        suffix = _TEMPORARY_SUFFIX + (self.path.suffix if keep_suffix else "")
        while True:
            candidate = self.path.parent / f".{self.path.name}.{secrets.token_hex(4)}{suffix}"
            try:
                descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            os.close(descriptor)
            break
        self.temporary = candidate
        # The mode the umask gave the new file; writers that replace the file at this path (safetensors
        # writes its own with mode 0600) get it back at commit.
        self.mode = stat.S_IMODE(os.stat(candidate).st_mode)

    def commit(self, synced: bool = False) -> Path:
        """Flush the temporary file to disk (unless ``synced``) and rename it onto :attr:`path`."""
        try:
            if not synced:
                descriptor = os.open(self.temporary, os.O_RDONLY)
                try:
                    os.fsync(descriptor)
                finally:
                    os.close(descriptor)
            if stat.S_IMODE(os.stat(self.temporary).st_mode) != self.mode:
                os.chmod(self.temporary, self.mode)
            os.replace(self.temporary, self.path)
        except BaseException:
            self.discard()
            raise
        return self.path

    def discard(self) -> None:
        """Delete the temporary file (the destination is left as it was)."""
        self.temporary.unlink(missing_ok=True)

    def finish(self, commit: bool) -> Path:
        """:meth:`commit` when ``commit``, else :meth:`discard`; returns :attr:`path`."""
        if commit:
            return self.commit()
        self.discard()
        return self.path


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb", *, encoding: str | None = None, newline: str | None = None) -> Iterator[IO[Any]]:
    """An open file (``mode`` ``"wb"`` or ``"w"``) whose content replaces ``path`` when the block ends without
    an exception; on an exception ``path`` is untouched and no temporary file remains."""
    if mode not in ("w", "wt", "wb"):
        raise ValueError(f"mode must be 'w', 'wt' or 'wb' for an atomic write, got {mode!r}")
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    pending = PendingFile(path)
    try:
        with open(pending.temporary, mode, encoding=encoding, newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        pending.discard()
        raise
    pending.commit(synced=True)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path (same folder, same suffix) for writers that need a file name; it is synced and
    renamed onto ``path`` when the block ends without an exception, else deleted."""
    pending = PendingFile(path, keep_suffix=True)
    try:
        yield pending.temporary
    except BaseException:
        pending.discard()
        raise
    pending.commit()


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_write(path) as handle:
        handle.write(data)
    return Path(path)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, in hex (read in 1 MiB blocks)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

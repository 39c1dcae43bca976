"""Files that survive a power cut: written whole or not at all.

Agent checkpoints, checkpointed resources and the master's file registry all
go through `write_atomically`: the bytes go to a temporary file beside the
target, are fsync'd, renamed over the target, and the directory is fsync'd so
the rename itself is durable. A reader therefore sees either the old content
or the new, never a torn mix (POSIX rename is atomic within one filesystem).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["fsync_directory", "read_if_exists", "write_atomically"]


def fsync_directory(directory: str | Path) -> None:
    """Make the directory's entries (a create, rename or unlink in it) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: str | Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace `path` with `data` durably; parent directories are created.

    Returns only once the new content and the rename are on disk. On any error
    the old content (if any) is left untouched and the temporary file removed.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_directory(target.parent)


def read_if_exists(path: str | Path) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        return None

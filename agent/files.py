"""Sandbox and volume files as the operator sees them: Mesos's /files/browse, read, download.

`SandboxFiles` answers for the directories an agent is willing to show: its
sandboxes (`<work_dir>/agents/...`, Mesos's `<work_dir>/slaves/...`) and its
persistent volumes (`<work_dir>/volumes/...`). Nothing else under the work
directory (the checkpoints in `meta/`) and nothing outside it. A path is
refused before it is touched when it is relative, holds a `..` component or a
NUL byte; it is then resolved, symlinks included, and refused unless it lands
under one of those roots, so a symlink planted in a sandbox cannot lead out.
Refusals raise `FilesError` carrying the HTTP status Mesos gives: 400 for a
malformed request, 404 for what does not exist or may not be shown (the
answer does not tell the two apart).

`read` follows Mesos's `/files/read`: `offset` -1 (or absent) answers the
file's size with no data, as the web UI's pager asks first; a `length` of -1
(or absent) reads to the end; at most `MAX_READ` bytes per answer; an offset at
or past the end answers no data.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path
from typing import Any

__all__ = ["MAX_READ", "FilesError", "SandboxFiles", "file_info"]

MAX_READ = 16 * 4096  # Mesos caps a read at 16 pages
ROOTS = ("agents", "volumes")  # under the work directory


class FilesError(Exception):
    """A request for a file refused; `status` is the HTTP status, the message says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class SandboxFiles:
    """The files an agent with work directory `work_dir` may show (see the module docstring)."""

    def __init__(self, work_dir: str | Path) -> None:
        self.work_dir = Path(work_dir).absolute()
        self.roots = tuple(self.work_dir / name for name in ROOTS)

    def resolve(self, text: str) -> Path:
        """The real path `text` names, or FilesError (400 malformed, 404 absent or forbidden)."""
        if not text:
            raise FilesError(400, "expecting 'path=value' in the query")
        if "\0" in text:
            raise FilesError(400, "the path holds a NUL byte")
        path = Path(text)
        if not path.is_absolute():
            raise FilesError(400, f"{_shown(text)} is not an absolute path")
        if ".." in path.parts:
            raise FilesError(400, f"{_shown(text)} holds a '..' component")
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise FilesError(404, f"{_shown(text)} was not found") from None
        if not self._inside(resolved):
            raise FilesError(404, f"{_shown(text)} was not found")
        return resolved

    def _inside(self, resolved: Path) -> bool:
        real_roots = [root.resolve() for root in self.roots if root.exists()]
        return any(resolved == root or root in resolved.parents for root in real_roots)

    def browse(self, text: str) -> list[dict[str, Any]]:
        """A directory's entries (or a file's own entry), Mesos's FileInfo JSON each."""
        path = self.resolve(text)
        shown = Path(text)
        if not path.is_dir():
            return [file_info(path, shown)]
        try:
            entries = sorted(path.iterdir())
        except OSError as error:
            raise FilesError(404, f"{_shown(text)} cannot be listed: {error.strerror}") from None
        return [
            file_info(entry, shown / entry.name, follow=self._inside(entry.resolve()))
            for entry in entries
        ]

    def read(self, text: str, offset: int = -1, length: int = -1) -> dict[str, Any]:
        """`{"data": str, "offset": int}` (see the module docstring). The bytes are decoded as
        UTF-8 with bytes that are not (or a character cut at the page's end) kept as lone
        surrogates (`\udc80`-`\udcff` in the JSON): a client that encodes the text back
        with `surrogateescape` gets the exact bytes, so its next offset is exact too."""
        if offset < -1:
            raise FilesError(400, f"negative offset provided: {offset}")
        if length < -1:
            raise FilesError(400, f"negative length provided: {length}")
        path = self.resolve(text)
        if path.is_dir():
            raise FilesError(400, "cannot read a directory")
        try:
            with path.open("rb") as file:
                size = os.fstat(file.fileno()).st_size
                if offset == -1:
                    return {"data": "", "offset": size}
                if offset >= size or length == 0:
                    return {"data": "", "offset": offset}
                wanted = size - offset if length == -1 else length
                file.seek(offset)
                data = file.read(min(wanted, MAX_READ))
        except OSError as error:
            raise FilesError(404, f"{_shown(text)} cannot be read: {error.strerror}") from None
        return {"data": data.decode("utf-8", errors="surrogateescape"), "offset": offset}

    def download(self, text: str) -> Path:
        """The real path of a file to send whole; FilesError for a directory (400)."""
        path = self.resolve(text)
        if path.is_dir():
            raise FilesError(400, "cannot download a directory")
        return path


def file_info(path: Path, shown: Path | None = None, *, follow: bool = True) -> dict[str, Any]:
    """Mesos's FileInfo JSON: path, nlink, size, mtime (seconds), mode (`drwxr-xr-x`), uid, gid
    (names). `shown` is the path as the client named it. A symlink is described by its
    target when `follow` (and the target exists), else as the link itself: a link that
    leads out of the sandboxes tells nothing about where it leads."""
    try:
        info = path.stat() if follow else path.lstat()
    except OSError:
        info = path.lstat()
    return {
        "path": str(shown or path),
        "nlink": info.st_nlink,
        "size": info.st_size,
        "mtime": int(info.st_mtime),
        "mode": stat.filemode(info.st_mode),
        "uid": _user(info.st_uid),
        "gid": _group(info.st_gid),
    }


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _shown(text: str) -> str:
    """A client-given path for an error line: bounded and quoted."""
    return repr(text[:256])

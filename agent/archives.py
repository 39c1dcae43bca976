"""Unpacking fetched archives into a sandbox, refusing the hostile ones.

`is_archive(name)` says whether the fetcher unpacks a file (by its name, as
Mesos's fetcher does): .tar, .tar.gz/.tgz, .tar.bz2/.tbz2, .tar.xz/.txz, .zip,
and .gz (a single gzipped file). `extract(archive, destination)` unpacks one.

An archive is refused whole (ArchiveError, nothing extracted) when an entry
names an absolute path, holds a `..` component or a NUL, is a device or a FIFO,
or is a link (symbolic or hard) whose target is absolute or climbs out with
`..` beyond the destination. Tar members are then extracted with Python's `data`
filter as well, which resolves every link against the disk as it goes, so a
chain of links cannot lead out either. Zip entries become plain files and
directories (zip links are not made) and keep their owner's execute bit.
"""

from __future__ import annotations

import gzip
import os
import posixpath
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

from agent.errors import FetchError

__all__ = ["ArchiveError", "extract", "is_archive"]

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
ZIP_SUFFIXES = (".zip",)
GZIP_SUFFIXES = (".gz",)


class ArchiveError(FetchError):
    """An archive that cannot or must not be unpacked; the message names the entry."""


def is_archive(name: str) -> bool:
    lowered = name.lower()
    return lowered.endswith(TAR_SUFFIXES + ZIP_SUFFIXES + GZIP_SUFFIXES)


def extract(archive: Path, destination: Path) -> int:
    """Unpack `archive` into `destination`; returns how many entries. ArchiveError if refused."""
    lowered = archive.name.lower()
    try:
        if lowered.endswith(TAR_SUFFIXES):
            return _extract_tar(archive, destination)
        if lowered.endswith(ZIP_SUFFIXES):
            return _extract_zip(archive, destination)
        if lowered.endswith(GZIP_SUFFIXES):
            return _gunzip(archive, destination)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, gzip.BadGzipFile) as error:
        raise ArchiveError(f"'{archive.name}' is not a readable archive: {error}") from None
    raise ArchiveError(f"'{archive.name}' is not an archive the fetcher knows")


def _check_name(archive: Path, name: str) -> None:
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ".." in parts or "\0" in name or not name.strip("/"):
        raise ArchiveError(f"'{archive.name}' holds an entry that escapes the sandbox: {name!r}")


def _check_link(archive: Path, name: str, target: str, *, hard: bool) -> None:
    """A link's target must be relative and stay inside, read from where the link sits
    (a hard link's target is a member name, relative to the archive's root)."""
    base = "" if hard else posixpath.dirname(name)
    resolved = posixpath.normpath(posixpath.join(base, target))
    if target.startswith("/") or "\0" in target or resolved == ".." or resolved.startswith("../"):
        raise ArchiveError(
            f"'{archive.name}' holds a link that escapes the sandbox: {name!r} -> {target!r}"
        )


def _extract_tar(archive: Path, destination: Path) -> int:
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            _check_name(archive, member.name)
            if member.issym() or member.islnk():
                _check_link(archive, member.name, member.linkname, hard=member.islnk())
            elif not (member.isfile() or member.isdir()):
                raise ArchiveError(
                    f"'{archive.name}' holds a device, FIFO or other special file: {member.name!r}"
                )
        try:
            tar.extractall(destination, members=members, filter="data")
        except tarfile.FilterError as error:
            raise ArchiveError(f"'{archive.name}' was refused while unpacking: {error}") from None
    return len(members)


def _extract_zip(archive: Path, destination: Path) -> int:
    with zipfile.ZipFile(archive) as zipped:
        entries = zipped.infolist()
        for entry in entries:
            _check_name(archive, entry.filename)
        root = destination.resolve()
        for entry in entries:
            target = (destination / entry.filename).resolve()
            if target != root and root not in target.parents:
                raise ArchiveError(
                    f"'{archive.name}': {entry.filename!r} would land outside the sandbox"
                )
            zipped.extract(entry, destination)
            mode = entry.external_attr >> 16
            if not entry.is_dir() and mode & stat.S_IXUSR:
                os.chmod(target, 0o755)
    return len(entries)


def _gunzip(archive: Path, destination: Path) -> int:
    target = destination / archive.name[: -len(".gz")]
    if not target.name:
        raise ArchiveError(f"'{archive.name}' has no name left once '.gz' is taken off")
    with gzip.open(archive, "rb") as source, open(target, "wb") as sink:
        shutil.copyfileobj(source, sink)
    return 1

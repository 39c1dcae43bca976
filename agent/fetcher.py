"""The fetcher: brings a container's URIs into its sandbox before the executor starts.

As Mesos's fetcher (docs/fetcher.md): each `CommandURI` is a `file://` URI, an
absolute path, or an `http://`/`https://` URL. The file lands in the sandbox
under `output_file`, else the last component of the URI's path; then it is
made executable (`executable`), or unpacked into the sandbox when `extract` is
set and its name is an archive's (agent.archives, which refuses hostile ones).
Progress and errors go to the sandbox's `stderr`, where the task's own output
follows. The first URI that fails stops the fetch with FetchError naming it.

URIs with `cache` set are kept in the fetcher cache, `<work_dir>/fetch/cache`,
keyed by the URI's text, and copied into each sandbox from there: a URI is
downloaded once however many tasks ask for it at the same time. The cache holds
at most `cache_size` bytes; the least recently used files make room for a new
one, never one being copied out. A file bigger than the whole cache, or that
finds no room, is fetched without it. The cache starts empty on every agent start,
as Mesos's does.

The blocking work (downloads, copies, unpacking) runs in worker threads; the
bookkeeping runs on the event loop, so `fetch` is safe to await from the agent's
`defer`. A download stalls out after `stall_timeout` seconds without data.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import structlog

from agent.archives import extract, is_archive
from agent.errors import FetchError
from zmesos.protocol import CommandURI

__all__ = ["Fetcher", "describe_bytes"]

DEFAULT_STALL_TIMEOUT = 60.0  # Mesos's --fetcher_stall_timeout
CHUNK = 1 << 20
STDERR = "stderr"

log = structlog.get_logger("fetcher")


def describe_bytes(size: int) -> str:
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:.1f}{unit}"
    return f"{size}B"


@dataclasses.dataclass
class _CacheEntry:
    path: Path
    size: int
    users: int = 0  # copies out of it in progress: it must not be evicted meanwhile


class Fetcher:
    """Fetches URIs into sandboxes, with an LRU cache of `cache_size` bytes (0: none)."""

    def __init__(
        self,
        cache_dir: str | Path,
        cache_size: int,
        *,
        stall_timeout: float = DEFAULT_STALL_TIMEOUT,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.cache_size = cache_size
        self.stall_timeout = stall_timeout
        self._entries: collections.OrderedDict[str, _CacheEntry] = collections.OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self.downloads = 0  # how many times a remote or local source was read (for tests)

    @property
    def cached_bytes(self) -> int:
        return sum(entry.size for entry in self._entries.values())

    def cached(self, uri: str) -> bool:
        return uri in self._entries

    def reset_cache(self) -> None:
        """Start with an empty cache (the agent calls it once, on start)."""
        shutil.rmtree(self.cache_dir, ignore_errors=True)
        self._entries.clear()

    async def fetch(self, uris: Sequence[CommandURI], sandbox: Path) -> None:
        """Fetch every URI into `sandbox`, in order. FetchError at the first that fails."""
        for uri in uris:
            try:
                await self._fetch_one(uri, sandbox)
            except FetchError as error:
                await asyncio.to_thread(_note, sandbox, f"Failed to fetch '{uri.value}': {error}")
                log.warning("fetch_failed", uri=uri.value, sandbox=str(sandbox), error=str(error))
                raise FetchError(f"Failed to fetch '{uri.value}': {error}") from None
            except OSError as error:
                message = f"{error.strerror or error}" + (
                    f": {error.filename}" if error.filename else ""
                )
                await asyncio.to_thread(_note, sandbox, f"Failed to fetch '{uri.value}': {message}")
                log.warning("fetch_failed", uri=uri.value, sandbox=str(sandbox), error=message)
                raise FetchError(f"Failed to fetch '{uri.value}': {message}") from None

    async def _fetch_one(self, uri: CommandURI, sandbox: Path) -> None:
        target = _target(uri, sandbox)
        await asyncio.to_thread(_note, sandbox, f"Fetching '{uri.value}' to '{target}'")
        if uri.cache and self.cache_size > 0:
            await self._through_cache(uri, sandbox, target)
        else:
            size = await asyncio.to_thread(self._download, uri.value, target)
            await asyncio.to_thread(_note, sandbox, f"Fetched {describe_bytes(size)}")
        await asyncio.to_thread(_finish, uri, sandbox, target)
        log.info("fetched", uri=uri.value, target=str(target), cache=uri.cache)

    # -- the cache ---------------------------------------------------------------

    async def _through_cache(self, uri: CommandURI, sandbox: Path, target: Path) -> None:
        key = uri.value
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                entry.users += 1
                await asyncio.to_thread(_note, sandbox, "Found in the fetcher cache")
            else:
                entry = await self._download_into_cache(key, sandbox, target)
                if entry is None:
                    return  # fetched straight into the sandbox
        try:
            await asyncio.to_thread(shutil.copyfile, entry.path, target)
        finally:
            entry.users -= 1

    async def _download_into_cache(
        self, key: str, sandbox: Path, target: Path
    ) -> _CacheEntry | None:
        """Download `key` into the cache; None if it went to `target` instead (no room)."""
        await asyncio.to_thread(self.cache_dir.mkdir, parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(prefix=".partial-", dir=self.cache_dir)
        os.close(handle)
        try:
            size = await asyncio.to_thread(self._download, key, Path(partial))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise
        await asyncio.to_thread(_note, sandbox, f"Fetched {describe_bytes(size)}")
        if not self._make_room(size):
            await asyncio.to_thread(
                _note,
                sandbox,
                f"No room in the fetcher cache ({describe_bytes(size)} of "
                f"{describe_bytes(self.cache_size)}): fetched without it",
            )
            await asyncio.to_thread(shutil.move, partial, target)
            log.info("fetcher_cache_bypassed", uri=key, size=size, cache_size=self.cache_size)
            return None
        path = self.cache_dir / hashlib.sha256(key.encode()).hexdigest()
        await asyncio.to_thread(os.replace, partial, path)
        entry = self._entries[key] = _CacheEntry(path=path, size=size, users=1)
        log.info("fetcher_cache_added", uri=key, size=size, cached_bytes=self.cached_bytes)
        return entry

    def _make_room(self, size: int) -> bool:
        """Evict least recently used entries not in use until `size` more bytes fit."""
        if size > self.cache_size:
            return False
        free = self.cache_size - self.cached_bytes
        if free >= size:
            return True
        evictable = [key for key, entry in self._entries.items() if entry.users == 0]
        for key in evictable:  # oldest first
            if free >= size:
                break
            entry = self._entries.pop(key)
            self._locks.pop(key, None)
            with contextlib.suppress(OSError):
                entry.path.unlink()
            free += entry.size
            log.info("fetcher_cache_evicted", uri=key, size=entry.size)
        return free >= size

    # -- reading a source (in a worker thread) ---------------------------------------

    def _download(self, uri: str, destination: Path) -> int:
        """Copy the URI's bytes to `destination`; returns how many. FetchError if it cannot."""
        self.downloads += 1
        parsed = urllib.parse.urlsplit(uri)
        if parsed.scheme in ("http", "https"):
            return _download_http(uri, destination, self.stall_timeout)
        source = _local_path(uri, parsed)
        if source.is_dir():
            raise FetchError(f"'{source}' is a directory")
        shutil.copyfile(source, destination)
        return destination.stat().st_size


def _local_path(uri: str, parsed: urllib.parse.SplitResult) -> Path:
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise FetchError(f"file URIs name this host only, not {parsed.netloc!r}")
        return Path(urllib.request.url2pathname(parsed.path))
    if parsed.scheme == "" and uri.startswith("/"):
        return Path(uri)
    if parsed.scheme == "":
        raise FetchError("a relative path cannot be fetched: give an absolute path or a URI")
    raise FetchError(f"unsupported URI scheme {parsed.scheme!r} (file, http, https)")


def _download_http(uri: str, destination: Path, stall_timeout: float) -> int:
    request = urllib.request.Request(uri, headers={"User-Agent": "zmesos-fetcher"})
    try:
        with (
            urllib.request.urlopen(request, timeout=stall_timeout) as response,
            open(destination, "wb") as sink,
        ):
            size = 0
            while chunk := response.read(CHUNK):
                sink.write(chunk)
                size += len(chunk)
    except urllib.error.HTTPError as error:
        raise FetchError(f"HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise FetchError(f"cannot reach the server: {error.reason}") from None
    except (TimeoutError, ConnectionError) as error:
        raise FetchError(f"download failed: {error or type(error).__name__}") from None
    return size


def _target(uri: CommandURI, sandbox: Path) -> Path:
    """Where the fetched file goes: `output_file`, else the URI path's last component."""
    name = uri.output_file or posixpath_basename(urllib.parse.urlsplit(uri.value).path)
    if not name or name in (".", ".."):
        raise FetchError("cannot tell a file name from the URI: give output_file")
    target = sandbox / name
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    root = sandbox.resolve()
    if parent.resolve() != root and root not in parent.resolve().parents:
        raise FetchError(f"output_file {uri.output_file!r} leads outside the sandbox")
    return target


def posixpath_basename(path: str) -> str:
    return urllib.parse.unquote(path.rstrip("/").rpartition("/")[2])


def _finish(uri: CommandURI, sandbox: Path, target: Path) -> None:
    """Make it executable, or unpack it, as the URI asks."""
    if uri.executable:
        os.chmod(target, 0o755)
        _note(sandbox, f"Made '{target.name}' executable")
    elif uri.extract and is_archive(target.name):
        entries = extract(target, sandbox)
        _note(sandbox, f"Extracted '{target.name}' ({entries} entries) into '{sandbox}'")


def _note(sandbox: Path, line: str) -> None:
    """A line of fetch progress in the sandbox's stderr."""
    with contextlib.suppress(OSError), open(sandbox / STDERR, "a", encoding="utf-8") as stderr:
        stderr.write(f"zmesos-fetcher: {line}\n")

"""The fetcher: local and HTTP URIs into a sandbox, extraction, the executable bit, output
names, the LRU cache, refusals of bad URIs and hostile archives; and the agent failing a
task whose fetch failed, or running one from a fetched tarball."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import stat
import tarfile
import zipfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web

from agent.archives import ArchiveError, extract
from agent.errors import FetchError
from agent.fetcher import Fetcher
from libprocess import Node
from tests.agent.fakes import sandboxes, start_agent
from zmesos.protocol import CommandInfo, CommandURI, Reason, TaskInfo, TaskState


def make_tar(path: Path, files: dict[str, bytes], mode: Any = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if name.endswith(".sh") else 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


def hostile_tar(path: Path, build: Callable[[tarfile.TarFile], None]) -> Path:
    with tarfile.open(path, "w") as tar:
        build(tar)
    return path


def add_file(tar: tarfile.TarFile, name: str, data: bytes = b"x") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def add_link(tar: tarfile.TarFile, name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    tar.addfile(info)


def fetcher(tmp_path: Path, cache_size: int = 1 << 20) -> Fetcher:
    return Fetcher(tmp_path / "cache", cache_size)


def sandbox_of(tmp_path: Path, name: str = "sandbox") -> Path:
    path = tmp_path / name
    path.mkdir()
    return path


class Server:
    """A loopback HTTP server of files, counting requests per path."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: dict[str, int] = {}
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests[request.path] = self.requests.get(request.path, 0) + 1
        data = self.files.get(request.path)
        if data is None:
            return web.Response(status=404, reason="Not Found")
        return web.Response(body=data)


@contextlib.asynccontextmanager
async def serving(files: dict[str, bytes]) -> AsyncIterator[Server]:
    served = Server(files)
    app = web.Application()
    app.router.add_get("/{tail:.*}", served.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    served.url = f"http://127.0.0.1:{port}"
    try:
        yield served
    finally:
        await runner.cleanup()


# -- local URIs, output names, executable, extraction ----------------------------------


async def test_fetcher_fetches_file_uris_and_paths_with_names_and_modes(tmp_path):
    source = tmp_path / "tool"
    source.write_bytes(b"#!/bin/sh\necho tool\n")
    sandbox = sandbox_of(tmp_path)
    await fetcher(tmp_path).fetch(
        [
            CommandURI(value=f"file://{source}", executable=True),
            CommandURI(value=str(source), output_file="bin/renamed"),
        ],
        sandbox,
    )
    assert (sandbox / "tool").read_bytes() == source.read_bytes()
    assert os.stat(sandbox / "tool").st_mode & stat.S_IXUSR
    assert (sandbox / "bin" / "renamed").exists()
    assert not os.stat(sandbox / "bin" / "renamed").st_mode & stat.S_IXUSR
    log = (sandbox / "stderr").read_text()
    assert f"Fetching '{source}'" in log and "executable" in log


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip"])
async def test_fetcher_extracts_archives_into_the_sandbox(tmp_path, suffix):
    files = {"app/run.sh": b"#!/bin/sh\necho run\n", "app/data.txt": b"data"}
    archive = tmp_path / f"app{suffix}"
    if suffix == ".zip":
        with zipfile.ZipFile(archive, "w") as zipped:
            for name, data in files.items():
                entry = zipfile.ZipInfo(name)
                entry.external_attr = (0o755 if name.endswith(".sh") else 0o644) << 16
                zipped.writestr(entry, data)
    else:
        mode = {".tar": "w", ".tar.gz": "w:gz", ".tgz": "w:gz", ".tar.bz2": "w:bz2"}
        make_tar(archive, files, mode.get(suffix, "w:xz"))
    sandbox = sandbox_of(tmp_path)
    await fetcher(tmp_path).fetch([CommandURI(value=str(archive))], sandbox)
    assert (sandbox / "app" / "data.txt").read_bytes() == b"data"
    assert os.stat(sandbox / "app" / "run.sh").st_mode & stat.S_IXUSR
    assert (sandbox / archive.name).exists()  # the archive stays, as with Mesos
    assert "Extracted" in (sandbox / "stderr").read_text()


async def test_fetcher_leaves_archives_packed_without_extract(tmp_path):
    archive = make_tar(tmp_path / "app.tar.gz", {"inside": b"x"})
    sandbox = sandbox_of(tmp_path)
    await fetcher(tmp_path).fetch([CommandURI(value=str(archive), extract=False)], sandbox)
    assert (sandbox / "app.tar.gz").exists() and not (sandbox / "inside").exists()


# -- HTTP ------------------------------------------------------------------------------


async def test_fetcher_downloads_http_and_reports_http_errors(tmp_path):
    payload = make_tar(tmp_path / "site.tgz", {"index.html": b"<h1>hi</h1>"}).read_bytes()
    async with serving({"/files/site.tgz": payload}) as server:
        sandbox = sandbox_of(tmp_path)
        await fetcher(tmp_path).fetch([CommandURI(value=f"{server.url}/files/site.tgz")], sandbox)
        assert (sandbox / "index.html").read_bytes() == b"<h1>hi</h1>"

        missing = f"{server.url}/files/missing.tgz"
        with pytest.raises(FetchError, match=f"Failed to fetch '{missing}': HTTP 404"):
            await fetcher(tmp_path).fetch([CommandURI(value=missing)], sandbox)
        assert "HTTP 404" in (sandbox / "stderr").read_text()


# -- the cache -------------------------------------------------------------------------


async def test_fetcher_cache_downloads_once_and_evicts_least_recently_used(tmp_path):
    files = {f"/{name}.bin": name.encode() * 400 for name in "abc"}  # 400 bytes each
    async with serving(files) as server:
        cached = fetcher(tmp_path, cache_size=1000)  # room for two

        async def fetch(name: str) -> Path:
            sandbox = sandbox_of(tmp_path, f"run-{name}-{len(os.listdir(tmp_path))}")
            await cached.fetch([CommandURI(value=f"{server.url}/{name}.bin", cache=True)], sandbox)
            return sandbox

        sandboxes_ = await asyncio.gather(*(fetch("a") for _ in range(3)))
        assert server.requests["/a.bin"] == 1  # three tasks at once, one download
        assert all((s / "a.bin").read_bytes() == files["/a.bin"] for s in sandboxes_)
        await fetch("b")
        await fetch("a")  # a is now the most recently used
        await fetch("c")  # no room for three: b goes
        assert cached.cached(f"{server.url}/a.bin") and cached.cached(f"{server.url}/c.bin")
        assert not cached.cached(f"{server.url}/b.bin")
        assert cached.cached_bytes == 800
        assert len(os.listdir(tmp_path / "cache")) == 2
        await fetch("b")
        assert server.requests == {"/a.bin": 1, "/b.bin": 2, "/c.bin": 1}


async def test_fetcher_fetches_a_file_bigger_than_the_cache_without_it(tmp_path):
    async with serving({"/big.bin": b"x" * 2000}) as server:
        cached = fetcher(tmp_path, cache_size=1000)
        sandbox = sandbox_of(tmp_path)
        await cached.fetch([CommandURI(value=f"{server.url}/big.bin", cache=True)], sandbox)
        assert (sandbox / "big.bin").stat().st_size == 2000
        assert cached.cached_bytes == 0
        assert "No room in the fetcher cache" in (sandbox / "stderr").read_text()


async def test_fetcher_reset_cache_empties_it(tmp_path):
    source = tmp_path / "f.txt"
    source.write_text("x")
    cached = fetcher(tmp_path)
    await cached.fetch([CommandURI(value=str(source), cache=True)], sandbox_of(tmp_path))
    assert cached.cached(str(source))
    cached.reset_cache()
    assert not cached.cached(str(source)) and not (tmp_path / "cache").exists()


# -- bad URIs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("hdfs://namenode/app.tgz", "unsupported URI scheme 'hdfs'"),
        ("relative/app.tgz", "relative path"),
        ("file://otherhost/app.tgz", "this host only"),
        ("/no/such/file.tgz", "No such file or directory"),
        ("http://127.0.0.1:1/app.tgz", "cannot reach the server"),
        ("http://127.0.0.1:1/", "give output_file"),
    ],
)
async def test_fetcher_bad_uris_fail_with_a_clear_reason(tmp_path, uri, reason):
    sandbox = sandbox_of(tmp_path)
    with pytest.raises(FetchError, match=reason) as raised:
        await fetcher(tmp_path).fetch([CommandURI(value=uri)], sandbox)
    assert str(raised.value).startswith(f"Failed to fetch '{uri}'")
    assert reason in (sandbox / "stderr").read_text()


async def test_fetcher_refuses_a_directory(tmp_path):
    with pytest.raises(FetchError, match="is a directory"):
        await fetcher(tmp_path).fetch([CommandURI(value=str(tmp_path))], sandbox_of(tmp_path))


# -- hostile archives --------------------------------------------------------------------


def add_link_then_write(tar: tarfile.TarFile, name: str, target: str) -> None:
    add_link(tar, name, target)
    add_file(tar, f"{name}/f")


HOSTILE = {
    "dotdot": lambda tar: add_file(tar, "../escaped"),
    "nested_dotdot": lambda tar: add_file(tar, "a/../../escaped"),
    "absolute": lambda tar: add_file(tar, "/tmp/escaped"),
    "symlink_absolute": lambda tar: add_link(tar, "etc", "/etc"),
    "symlink_up": lambda tar: add_link(tar, "up", "../.."),
    "symlink_then_write": lambda tar: add_link_then_write(tar, "a/b", "../../x"),
    "hardlink_out": lambda tar: add_link(tar, "h", "../outside", tarfile.LNKTYPE),
    "device": lambda tar: add_link(tar, "dev", "", tarfile.CHRTYPE),
    "fifo": lambda tar: add_link(tar, "fifo", "", tarfile.FIFOTYPE),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_archives_refuse_hostile_tar_entries_whole(tmp_path, kind):
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        add_file(tar, "harmless.txt")
        HOSTILE[kind](tar)
    destination = tmp_path / "sandbox" / "deep"
    destination.mkdir(parents=True)
    with pytest.raises(ArchiveError, match=r"evil\.tar"):
        extract(archive, destination)
    assert os.listdir(destination) == []  # refused whole: nothing extracted
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "sandbox" / "escaped").exists()


def test_archives_refuse_link_chains_that_lead_out(tmp_path):
    """Each link stays inside on its own; together they lead out. The data filter sees it."""
    archive = tmp_path / "chain.tar"
    with tarfile.open(archive, "w") as tar:
        add_link(tar, "a/b", "..")  # a/b -> the destination
        add_link(tar, "x", "a/b/..")  # lexically the destination; really its parent
        add_file(tar, "x/escaped")
    destination = tmp_path / "sandbox"
    destination.mkdir()
    with pytest.raises(ArchiveError):
        extract(archive, destination)
    assert not (tmp_path / "escaped").exists()


@pytest.mark.parametrize("name", ["../escaped", "/tmp/escaped-zip", "a/../../escaped"])
def test_archives_refuse_hostile_zip_entries(tmp_path, name):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(name, b"x")
    destination = tmp_path / "sandbox"
    destination.mkdir()
    with pytest.raises(ArchiveError, match="escapes the sandbox"):
        extract(archive, destination)
    assert not (tmp_path / "escaped").exists()


@pytest.mark.parametrize("name", ["broken.tar.gz", "broken.zip", "broken.gz"])
def test_archives_refuse_corrupt_ones(tmp_path, name):
    archive = tmp_path / name
    archive.write_bytes(b"this is not an archive" * 10)
    (tmp_path / "sandbox").mkdir()
    with pytest.raises(ArchiveError, match="not a readable archive"):
        extract(archive, tmp_path / "sandbox")


async def test_fetcher_hostile_archive_fails_the_fetch(tmp_path):
    archive = hostile_tar(tmp_path / "evil.tar.gz", lambda tar: add_file(tar, "../escaped"))
    sandbox = sandbox_of(tmp_path)
    with pytest.raises(FetchError, match="escapes the sandbox"):
        await fetcher(tmp_path).fetch([CommandURI(value=str(archive))], sandbox)
    assert not (tmp_path / "escaped").exists()


# -- the agent ---------------------------------------------------------------------------


def fetching_task(task_id: str, command: str, *uris: CommandURI) -> TaskInfo:
    return TaskInfo(
        name=task_id,
        task_id=task_id,
        agent_id="agent-1",
        command=CommandInfo(value=command, uris=uris),
    )


async def test_agent_runs_a_task_from_a_fetched_tarball(tmp_path):
    tarball = make_tar(
        tmp_path / "app.tar.gz",
        {"app/run.sh": b'#!/bin/sh\necho "ran $(cat app/v)"\n', "app/v": b"v1"},
    )
    async with (
        serving({"/app.tar.gz": tarball.read_bytes()}) as server,
        Node(host="127.0.0.1", port=0) as node,
    ):
        master, _ = await start_agent(node, tmp_path / "work")
        await master.wait_for(lambda: master.agent is not None)
        uri = CommandURI(value=f"{server.url}/app.tar.gz", cache=True)
        master.run_task(fetching_task("t1", "./app/run.sh", uri))
        await master.wait_for(lambda: master.terminal("t1"))
        assert master.states("t1")[-1] is TaskState.FINISHED
        [sandbox] = sandboxes(tmp_path / "work", "t1")
        assert (sandbox / "stdout").read_text() == "ran v1\n"
        assert "Extracted 'app.tar.gz'" in (sandbox / "stderr").read_text()


async def test_agent_fails_a_task_whose_fetch_failed(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await start_agent(node, tmp_path / "work")
        await master.wait_for(lambda: master.agent is not None)
        missing = f"file://{tmp_path}/missing.tgz"
        master.run_task(fetching_task("t1", "true", CommandURI(value=missing)))
        await master.wait_for(lambda: master.terminal("t1"))
        update = master.terminal("t1")
        assert update is not None
        assert update.status.state is TaskState.FAILED
        assert update.status.reason is Reason.CONTAINER_LAUNCH_FAILED
        assert update.status.message.startswith(f"Failed to fetch '{missing}'")
        assert "No such file or directory" in update.status.message
        [sandbox] = sandboxes(tmp_path / "work", "t1")
        assert "Failed to fetch" in (sandbox / "stderr").read_text()


@pytest.mark.parametrize(
    "uri",
    [
        {"value": ""},
        {"value": "x" * 5000},
        {"value": "/a", "output_file": "../escape"},
        {"value": "/a", "output_file": "/etc/passwd"},
        {"value": "/a", "output_file": "a/../../b"},
        {"value": "/a\x00b"},
        {"value": "/a", "executable": "yes"},
    ],
)
def test_fetcher_bad_uri_fields_are_refused_at_decode(uri):
    task = {
        "name": "t",
        "task_id": "t",
        "agent_id": "a",
        "command": {"value": "true", "uris": [uri]},
    }
    with pytest.raises(msgspec.ValidationError):
        msgspec.msgpack.decode(msgspec.msgpack.encode(task), type=TaskInfo)

"""SandboxFiles: Mesos's /files semantics, and hostile paths that must not escape."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent import paths
from agent.files import MAX_READ, FilesError, SandboxFiles


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    path = paths.create_sandbox(tmp_path, "a1", "f1", "e1", "c1")
    (path / "stdout").write_text("hello\nworld\n")
    (path / "big").write_bytes(b"x" * (MAX_READ * 3))
    (path / "sub").mkdir()
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "secret").write_text("checkpoint")
    return path


def test_files_read_follows_mesos_offset_and_length(tmp_path, sandbox):
    files = SandboxFiles(tmp_path)
    stdout = str(sandbox / "stdout")
    assert files.read(stdout) == {"data": "", "offset": 12}  # offset -1: the size
    assert files.read(stdout, -1, 5) == {"data": "", "offset": 12}
    assert files.read(stdout, 0) == {"data": "hello\nworld\n", "offset": 0}
    assert files.read(stdout, 6, 3) == {"data": "wor", "offset": 6}
    assert files.read(stdout, 6, 0) == {"data": "", "offset": 6}
    assert files.read(stdout, 12) == {"data": "", "offset": 12}
    assert files.read(stdout, 500) == {"data": "", "offset": 500}
    assert len(files.read(str(sandbox / "big"), 0)["data"]) == MAX_READ
    for offset, length in ((-2, 1), (0, -2)):
        with pytest.raises(FilesError) as refused:
            files.read(stdout, offset, length)
        assert refused.value.status == 400
    with pytest.raises(FilesError) as refused:
        files.read(str(sandbox))
    assert refused.value.status == 400


def test_files_browse_lists_mesos_file_infos_through_runs_latest(tmp_path, sandbox):
    files = SandboxFiles(tmp_path)
    latest = sandbox.parent / "latest"
    assert latest.is_symlink() and os.readlink(latest) == "c1"
    listing = files.browse(str(latest))
    assert [Path(info["path"]).name for info in listing] == ["big", "stdout", "sub"]
    [stdout] = [info for info in listing if info["path"].endswith("stdout")]
    assert stdout["path"] == str(latest / "stdout")
    assert set(stdout) == {"path", "nlink", "size", "mtime", "mode", "uid", "gid"}
    assert stdout["size"] == 12 and stdout["mode"].startswith("-rw")
    assert [info["mode"][0] for info in listing] == ["-", "-", "d"]
    assert files.browse(str(sandbox / "stdout"))[0]["size"] == 12


def test_files_a_new_run_moves_runs_latest(tmp_path, sandbox):
    second = paths.create_sandbox(tmp_path, "a1", "f1", "e1", "c2")
    assert (sandbox.parent / "latest").resolve() == second.resolve()
    assert sorted(p.name for p in sandbox.parent.iterdir()) == ["c1", "c2", "latest"]


@pytest.mark.parametrize(
    ("hostile", "status"),
    [
        ("/etc/passwd", 404),
        ("etc/passwd", 400),
        ("", 400),
        ("{sandbox}/../../../../../../../../../../etc/passwd", 400),
        ("{sandbox}/..", 400),
        ("{work_dir}/meta/secret", 404),
        ("{work_dir}/agents/../meta/secret", 400),
        ("{work_dir}", 404),
        ("{sandbox}/escape/passwd", 404),
        ("{sandbox}/meta-link/secret", 404),
        ("{sandbox}/stdout\0/etc/passwd", 400),
        ("{sandbox}/%2e%2e/%2e%2e/etc/passwd", 404),
        ("{sandbox}/missing", 404),
    ],
)
def test_files_hostile_paths_cannot_escape_the_sandboxes(tmp_path, sandbox, hostile, status):
    (sandbox / "escape").symlink_to("/etc")
    (sandbox / "meta-link").symlink_to(tmp_path / "meta")
    files = SandboxFiles(tmp_path)
    path = hostile.format(sandbox=sandbox, work_dir=tmp_path)
    for operation in (files.browse, files.read, files.download):
        with pytest.raises(FilesError) as refused:
            operation(path)
        assert refused.value.status == status, (operation.__name__, path)
        assert "\n" not in str(refused.value)


def test_files_links_to_volumes_are_followed_and_links_out_are_not_described(tmp_path, sandbox):
    volume = paths.volume_dir(tmp_path, "db", "data")
    volume.mkdir(parents=True)
    (volume / "rows").write_text("1,2\n")
    (sandbox / "data").symlink_to(volume)
    (sandbox / "escape").symlink_to("/etc")
    files = SandboxFiles(tmp_path)
    assert files.read(str(sandbox / "data" / "rows"), 0)["data"] == "1,2\n"
    assert files.browse(str(volume))[0]["size"] == 4
    [escape] = [info for info in files.browse(str(sandbox)) if info["path"].endswith("escape")]
    assert escape["mode"].startswith("l")  # the link itself, not what it points at

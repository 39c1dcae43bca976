"""`zmesos keys generate`: key directories for a cluster; a bad name or flag exits 2."""

from __future__ import annotations

import pytest

from libprocess.curve import load
from zmesos.cli import main


def test_keys_generate_writes_a_directory_per_node(tmp_path, capsys):
    assert main(["keys", "generate", str(tmp_path / "keys"), "--nodes", "master,agent-1"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        f"agent-1: --curve-keys {tmp_path / 'keys' / 'agent-1'}",
        f"master: --curve-keys {tmp_path / 'keys' / 'master'}",
    ]
    assert load(tmp_path / "keys" / "master").allowed.is_dir()


@pytest.mark.parametrize("nodes", ["../escape", ",", ".hidden"])
def test_keys_generate_refuses_a_bad_node_name_with_exit_2(tmp_path, capsys, nodes):
    with pytest.raises(SystemExit) as exited:
        main(["keys", "generate", str(tmp_path / "keys"), "--nodes", nodes])
    assert exited.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()[-1:]
    assert "error" in line


def test_master_with_a_bad_key_directory_exits_2_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["master", "--curve-keys", str(tmp_path / "none")])
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith("does not exist")

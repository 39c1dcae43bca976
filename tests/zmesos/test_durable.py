"""Tests for zmesos.durable: atomic, durable replacement of a file."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest

from zmesos.durable import read_if_exists, write_atomically


def test_write_atomically_creates_parents_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "meta" / "resources" / "resources.info"
    write_atomically(target, b"first")
    write_atomically(target, b"second")
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["resources.info"]


def test_write_atomically_keeps_old_content_when_the_write_fails(tmp_path: Path) -> None:
    target = tmp_path / "state"
    write_atomically(target, b"old")
    with mock.patch("os.fsync", side_effect=OSError("disk gone")), pytest.raises(OSError):
        write_atomically(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state"]


def test_write_atomically_applies_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    write_atomically(target, b"x", mode=0o600)
    assert os.stat(target).st_mode & 0o777 == 0o600


def test_read_if_exists(tmp_path: Path) -> None:
    assert read_if_exists(tmp_path / "missing") is None
    write_atomically(tmp_path / "present", b"data")
    assert read_if_exists(tmp_path / "present") == b"data"

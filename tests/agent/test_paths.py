"""The work-directory layout."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from agent import paths


def test_paths_sandbox_follows_the_mesos_layout():
    sandbox = paths.sandbox_dir("/w", "a1", "f1", "e1", "c1")
    assert sandbox == Path("/w/agents/a1/frameworks/f1/executors/e1/runs/c1")
    assert paths.executor_dir("/w", "a1", "f1", "e1") == sandbox.parent.parent
    assert paths.framework_dir("/w", "a1", "f1") == Path("/w/agents/a1/frameworks/f1")


def test_paths_create_sandbox_makes_the_directory(tmp_path):
    sandbox = paths.create_sandbox(tmp_path, "a1", "f1", "e1", "c1")
    assert sandbox.is_dir()
    assert paths.create_sandbox(tmp_path, "a1", "f1", "e1", "c1") == sandbox  # idempotent


def test_paths_container_ids_are_fresh_uuids():
    first, second = paths.new_container_id(), paths.new_container_id()
    assert first != second
    assert uuid.UUID(first).version == 4


def test_paths_volumes_live_outside_sandboxes():
    assert paths.volume_dir("/w", "db", "v1") == Path("/w/volumes/roles/db/v1")
    assert paths.volume_dir("/w", "eng/web", "v1") == Path("/w/volumes/roles/eng web/v1")


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "../x", "a\0b"])
def test_paths_refuse_ids_that_are_not_one_directory(bad):
    with pytest.raises(ValueError, match="cannot be a directory name"):
        paths.sandbox_dir("/w", "a1", "f1", bad, "c1")

"""Versions: the Mesos API level zmesos speaks, and zmesos's own.

Mesos's clients read `/version` and `MasterInfo.version` to decide what the
master supports, parsing each part as an integer; zmesos reports the Mesos
release whose APIs it follows, and its own version alongside.
"""

from __future__ import annotations

import importlib.metadata

__all__ = ["MESOS_VERSION", "ZMESOS_VERSION", "version_json"]

MESOS_VERSION = "1.11.0"

try:
    ZMESOS_VERSION = importlib.metadata.version("zmesos")
except importlib.metadata.PackageNotFoundError:  # run from a source tree without installing
    ZMESOS_VERSION = "0.0.0"


def version_json() -> dict[str, object]:
    """What `GET /version` answers, in Mesos's shape."""
    return {
        "version": MESOS_VERSION,
        "zmesos_version": ZMESOS_VERSION,
        "build_date": "",
        "build_time": 0.0,
        "build_user": "",
        "git_sha": "",
        "git_tag": "",
    }

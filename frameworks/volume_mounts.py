"""Bind-mounting a task's persistent volumes in a mount namespace of its own (Linux, root).

The agent tells the command executor, in `ZMESOS_VOLUME_MOUNTS`, which volume
directories to mount where in the sandbox; `enter_and_mount` runs in the
task's process between fork and exec: a new mount namespace (so nobody else
sees the mounts and they vanish with the task), propagation made private, then
one bind mount per volume, remounted read-only for RO volumes. Any failure
raises OSError, and the task fails to start rather than run without its data.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os

from zmesos.protocol.environment import VOLUME_MOUNTS

__all__ = ["decode_mounts", "enter_and_mount"]

_CLONE_NEWNS = 0x00020000
_MS_RDONLY = 0x1
_MS_REMOUNT = 0x20
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000


def decode_mounts(text: str) -> list[tuple[str, str, str]]:
    """The mounts in the variable; ValueError when it is not a list of [source, target, mode]."""
    value = json.loads(text)
    if not isinstance(value, list) or not all(
        isinstance(m, list) and len(m) == 3 and all(isinstance(p, str) for p in m) for m in value
    ):
        raise ValueError(f"{VOLUME_MOUNTS} is not a list of [source, target, mode]")
    return [(source, target, mode) for source, target, mode in value]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def enter_and_mount(mounts: list[tuple[str, str, str]]) -> None:
    """In the task's process: own mount namespace, then bind each volume (RO enforced)."""
    libc = _libc()
    libc.mount.argtypes = (
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_void_p,
    )
    _check(libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "making / private")
    for source, target, mode in mounts:
        source_b, target_b = os.fsencode(source), os.fsencode(target)
        _check(libc.mount(source_b, target_b, None, _MS_BIND, None), f"bind {source} on {target}")
        if mode == "RO":
            flags = _MS_BIND | _MS_REMOUNT | _MS_RDONLY
            _check(libc.mount(None, target_b, None, flags, None), f"read-only {target}")

"""A stand-in executor for the fork server's tests: `main()` (forked) or `python -m` (exec'd).

It prints one JSON line of what a process sees of itself -- cwd, session, parent,
environment, argv, stdin, descriptors left open, a random number -- then acts on
PROBE_ACT: `exit:N` exits with N (the default is 0); `sleep` starts `sleep 60` in
a process group of its own (as the command executor does with its task), prints
`ready <pid>` and waits; `ignore-term` does the same but survives SIGTERM,
printing `term` when one arrives.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys


def facts() -> dict[str, object]:
    listed = [int(fd) for fd in os.listdir("/proc/self/fd")]  # its own fd closes after
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "sid": os.getsid(0),
        "cwd": os.getcwd(),
        "environment": dict(os.environ),
        "argv": sys.argv,
        "stdin": os.readlink("/proc/self/fd/0"),
        "open_fds": [fd for fd in listed if fd > 2 and os.path.exists(f"/proc/self/fd/{fd}")],
        "random": random.random(),
    }


def main() -> int:
    print(json.dumps(facts()), flush=True)
    print("probe stderr", file=sys.stderr, flush=True)
    act = os.environ.get("PROBE_ACT", "exit:0")
    if act.startswith("exit:"):
        return int(act.partition(":")[2])
    if act == "ignore-term":
        signal.signal(signal.SIGTERM, lambda *_: print("term", flush=True))
    task = subprocess.Popen(["sleep", "60"], process_group=0)
    print(f"ready {task.pid}", flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    raise SystemExit(main())

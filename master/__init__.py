"""The master: admits agents and frameworks, offers resources, launches and tracks tasks.

Master        the master actor (process name "master"); spawns its allocator actor
MasterFlags   its flags (Mesos's names, snake_case)
run_master    start a node with a master and its operator HTTP: what the CLI calls
serve_http    start the operator HTTP for a master already running on a node
tune_garbage_collector  the cyclic collector tuned for a master process (the CLI calls it)
"""

from master.flags import MasterFlags
from master.http import HttpServer, serve_http
from master.master import Master
from master.runner import MasterHandle, run_master, tune_garbage_collector

__all__ = [
    "HttpServer",
    "Master",
    "MasterFlags",
    "MasterHandle",
    "run_master",
    "serve_http",
    "tune_garbage_collector",
]

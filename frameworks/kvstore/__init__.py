"""A stateful framework: a key-value service whose data lives on a persistent volume.

`service` is the task (SQLite on the volume, HTTP on a port from its offer);
`scheduler` reserves resources for its role, creates the volume, launches the
service on it and relaunches it there whenever the task ends; `client` talks
to the service.
"""

from frameworks.kvstore.client import KeyValueClient
from frameworks.kvstore.scheduler import KeyValueScheduler

__all__ = ["KeyValueClient", "KeyValueScheduler"]

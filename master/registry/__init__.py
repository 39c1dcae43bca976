"""The registry: what a cluster's masters keep durable (Mesos's registry and registrar).

Registry, operations    master.registry.records
Registrar               applies operations in durable batches (master.registry.registrar)
stores                  in memory, a file in --work-dir (master.registry.stores),
                        ZooKeeper with --zk (master.registry.zookeeper)
"""

from master.registry.errors import (
    RegistryError,
    RegistryFenced,
    RegistryOperationError,
    RegistryStorageError,
)
from master.registry.records import (
    AdmitAgent,
    MarkAgentGone,
    MarkAgentReachable,
    MarkAgentUnreachable,
    Operation,
    PruneUnreachable,
    QuotaRecord,
    Registry,
    RemoveAgent,
    RemoveQuota,
    SetQuota,
    UpdateWeights,
)
from master.registry.registrar import Registrar
from master.registry.stores import FileStore, InMemoryStore, RegistryStore

__all__ = [
    "AdmitAgent",
    "FileStore",
    "InMemoryStore",
    "MarkAgentGone",
    "MarkAgentReachable",
    "MarkAgentUnreachable",
    "Operation",
    "PruneUnreachable",
    "QuotaRecord",
    "Registrar",
    "Registry",
    "RegistryError",
    "RegistryFenced",
    "RegistryOperationError",
    "RegistryStorageError",
    "RegistryStore",
    "RemoveAgent",
    "RemoveQuota",
    "SetQuota",
    "UpdateWeights",
]

"""Authorization: ACLs in Mesos's JSON format and the decisions on them.

The master asks for every action it guards (registration, launches, offer
and operator operations, teardown, quota, weights, what /state and the
operator API show); the agent asks for its sandboxes' files.
"""

from zmesos.authorization.acls import ACTIONS, Acls, Entity, EntityType, Rule, load_acls, parse_acls
from zmesos.authorization.authorizer import Authorizer

__all__ = [
    "ACTIONS",
    "Acls",
    "Authorizer",
    "Entity",
    "EntityType",
    "Rule",
    "load_acls",
    "parse_acls",
]

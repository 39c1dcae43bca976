"""Authentication of agents and frameworks: credentials, the SCRAM-SHA-256 keys, the client.

The master's side (sessions, throttling, who authenticated as whom) lives in
master.authenticator and master.authentication_handlers.
"""

from zmesos.authentication.authenticatee import (
    DEFAULT_AUTHENTICATION_TIMEOUT,
    Authenticatee,
    authenticate,
)
from zmesos.authentication.credentials import Credential, load_credential, load_credentials

__all__ = [
    "DEFAULT_AUTHENTICATION_TIMEOUT",
    "Authenticatee",
    "Credential",
    "authenticate",
    "load_credential",
    "load_credentials",
]

"""The flags that lock a node's two doors, shared by the master and the agent.

The actor door (ZeroMQ): `--curve-keys DIR` turns on CurveZMQ for every
connection (libprocess.curve). The HTTP door: limits, basic authentication and
TLS (zmesos.http.guard). Everything is off or open by default, as in Mesos,
except the limits, which only a hostile client meets.
"""

from __future__ import annotations

import dataclasses
import ssl

from libprocess.curve import CurveKeyError
from libprocess.curve import load as load_curve_keys
from zmesos.authentication import load_credentials
from zmesos.errors import CredentialsError, FlagsError
from zmesos.flags import flag
from zmesos.http.guard import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_REQUEST_TIMEOUT,
    HttpSecurity,
    ssl_context,
)

__all__ = ["SecurityFlags"]


@dataclasses.dataclass(frozen=True)
class SecurityFlags:
    """Checked when made: a bad key directory, certificate or credentials file is a FlagsError."""

    curve_keys: str = flag(
        "",
        "this node's CurveZMQ key directory (zmesos keys generate): encrypt and authenticate "
        "every actor connection; only allowed keys may connect",
    )
    ssl_cert: str = flag("", "PEM certificate (chain): serve HTTPS only (with --ssl-key)")
    ssl_key: str = flag("", "PEM private key of --ssl-cert")
    http_credentials: str = flag(
        "", 'JSON file {"credentials": [{"principal": .., "secret": ..}]}: HTTP basic auth users'
    )
    authenticate_http_readonly: bool = flag(
        False, "GET and HEAD endpoints need HTTP basic authentication (--http-credentials)"
    )
    authenticate_http_readwrite: bool = flag(
        False,
        "endpoints that act (POST and the like, the v1 APIs) need HTTP basic authentication",
    )
    http_max_header_bytes: int = flag(
        DEFAULT_MAX_HEADER_BYTES, "longest HTTP request line or header field"
    )
    http_max_body_bytes: int = flag(DEFAULT_MAX_BODY_BYTES, "largest HTTP request body (413)")
    http_request_timeout: float = flag(
        DEFAULT_REQUEST_TIMEOUT, "seconds a client has to send a whole HTTP request"
    )
    http_max_connections_per_client: int = flag(
        DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
        "HTTP connections one client address may hold open (0: no limit)",
    )
    # Made from the flags above when the flags are made (they are checked by making them).
    _ssl: ssl.SSLContext | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )
    _credentials: dict[str, str] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.curve_keys:
            try:
                load_curve_keys(self.curve_keys)
            except CurveKeyError as error:
                raise FlagsError(f"--curve-keys: {error}") from None
        object.__setattr__(self, "_ssl", ssl_context(self.ssl_cert, self.ssl_key))
        if self.http_credentials:
            try:
                credentials = load_credentials(self.http_credentials)
            except CredentialsError as error:
                raise FlagsError(f"--http-credentials: {error}") from None
            object.__setattr__(self, "_credentials", credentials)
        self.http("check")  # raises FlagsError on bad limits or a missing credentials file

    def http(self, role: str) -> HttpSecurity:
        """The HTTP server's guard settings; `role` names its realms (e.g. "mesos-master")."""
        return HttpSecurity(
            role=role,
            max_header_bytes=self.http_max_header_bytes,
            max_body_bytes=self.http_max_body_bytes,
            request_timeout=self.http_request_timeout,
            max_connections_per_client=self.http_max_connections_per_client,
            credentials=self._credentials,
            authenticate_readonly=self.authenticate_http_readonly,
            authenticate_readwrite=self.authenticate_http_readwrite,
            ssl=self._ssl,
        )

    @property
    def curve_directory(self) -> str | None:
        return self.curve_keys or None

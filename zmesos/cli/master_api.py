"""How the operator commands (`zmesos state|agents|frameworks|tasks|logs|top`, `reserve`,
`unreserve`, `volumes`, `agent gone`) speak HTTP to a master and its agents, and print
aligned tables.

One client for all of them: plain blocking HTTP (urllib), since a command makes
a handful of requests and exits. `--master` is resolved once (zmesos.cli.operator:
`HOST:PORT`, `http://` or `https://HOST:PORT`, or `zk://` to the leader, whose
scheme the leader publishes); agents are spoken to in the master's scheme, as
Mesos runs TLS cluster-wide. `--http-credential FILE` (Mesos's client JSON,
`{"principal": .., "secret": ..}`) sends HTTP basic authentication on every
request; `--ca-cert FILE` trusts that PEM certificate (a private CA's, or a
self-signed server's) instead of the system's. Both are also read from
$ZMESOS_HTTP_CREDENTIAL and $ZMESOS_CA_CERT. A bad file stops the command with
one line (exit 2).

A master that does not lead answers 307 to the leader; the client follows it,
POSTs included (with their body and credentials). Any failure becomes
`ApiUnavailable` with one line naming the address and why (a 401 says whether a
credential was sent), which the command prints before exiting with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import http
import http.client
import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import IO, Any

from zmesos.authentication import Credential, load_credential
from zmesos.cli.flags import Parser, from_environment
from zmesos.cli.operator import master_http, operator_master
from zmesos.errors import CredentialsError

__all__ = [
    "Answer",
    "ApiUnavailable",
    "ClusterApi",
    "add_access_flags",
    "add_master_flag",
    "agent_http_address",
    "basic_authorization",
    "connect",
    "table",
]

TIMEOUT = 10.0  # seconds for one request
DEFAULT_MASTER = "127.0.0.1:5050"
_MASTER_HELP = (
    "the master's HTTP address HOST:PORT (https://HOST:PORT with TLS), or zk://HOST:PORT/PATH"
)


class ApiUnavailable(Exception):
    """A master or agent did not answer as expected; the message says which and why."""


def add_master_flag(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    """`--master` (default: $ZMESOS_MASTER, $MESOS_MASTER, then 127.0.0.1:5050; `required`:
    none) and the access flags (`add_access_flags`)."""
    if required:
        parser.add_argument("--master", required=True, help=_MASTER_HELP)
    else:
        default = (
            os.environ.get("ZMESOS_MASTER") or os.environ.get("MESOS_MASTER") or DEFAULT_MASTER
        )
        described = f"{_MASTER_HELP} (default: {default})"
        parser.add_argument("--master", default=default, help=described)
    add_access_flags(parser)


def add_access_flags(parser: argparse.ArgumentParser) -> None:
    """`--http-credential FILE` and `--ca-cert FILE` (see the module docstring)."""
    parser.add_argument(
        "--http-credential",
        metavar="FILE",
        help='JSON {"principal": .., "secret": ..}: HTTP basic authentication for every request'
        " (default: $ZMESOS_HTTP_CREDENTIAL)",
    )
    parser.add_argument(
        "--ca-cert",
        metavar="FILE",
        help="PEM certificate to trust for https:// (a private CA's or a self-signed one;"
        " default: $ZMESOS_CA_CERT, else the system's)",
    )


@dataclasses.dataclass(frozen=True)
class Answer:
    """A response's status and body."""

    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace").strip()


@dataclasses.dataclass(frozen=True)
class ClusterApi:
    """The (leading) master's base URL, and how to reach it and its agents."""

    master: str  # "http(s)://host:port"
    credential: Credential | None = None
    ssl: ssl.SSLContext | None = dataclasses.field(default=None, repr=False)

    @property
    def scheme(self) -> str:
        return self.master.partition("://")[0]

    def agent_url(self, agent: Mapping[str, Any]) -> str:
        """An agent's base URL, from its entry in the master's /state or /slaves."""
        return f"{self.scheme}://{agent_http_address(agent)}"

    def get_json(
        self, path: str, query: Mapping[str, Any] | None = None, *, at: str | None = None
    ) -> Any:
        """GET `path` (with `query`) of the master (or of base URL `at`) and decode its JSON;
        ApiUnavailable for any answer but 200 with JSON."""
        base = at or self.master
        url = base + path
        if query:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(query)
        answer = self._exchange(base, urllib.request.Request(url, headers=self._headers()))
        if answer.status != 200:
            lines = answer.text.splitlines()
            detail = lines[0] if lines else http.HTTPStatus(answer.status).phrase
            raise ApiUnavailable(f"{url}: HTTP {answer.status}: {detail}")
        try:
            return json.loads(answer.body)
        except ValueError:
            raise ApiUnavailable(f"{url}: the answer is not JSON") from None

    def post(
        self, path: str, *, form: Mapping[str, str] | None = None, body: object = None
    ) -> Answer:
        """POST a form or a JSON `body` to the master's `path`: the answer, whatever its
        status (the caller reports a refusal in its own terms), except a refused
        authentication (ApiUnavailable, like a network failure)."""
        headers = self._headers()
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.master + path, data=data, headers=headers, method="POST"
        )
        return self._exchange(self.master, request)

    def _headers(self) -> dict[str, str]:
        if self.credential is None:
            return {}
        return {"Authorization": basic_authorization(self.credential)}

    def _exchange(self, base: str, request: urllib.request.Request) -> Answer:
        """Send `request`: its answer, whatever the status, but 401 and an unreachable
        server are ApiUnavailable."""
        opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=self.ssl), _FollowTheLeader()
        )
        try:
            with opener.open(request, timeout=TIMEOUT) as response:
                return Answer(response.status, response.read())
        except urllib.error.HTTPError as error:
            if error.code == 401:
                raise ApiUnavailable(f"{request.full_url}: HTTP 401: {self._why_401()}") from None
            return Answer(error.code, error.read())
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            raise ApiUnavailable(f"cannot reach {base}: {_why_unreachable(error)}") from None

    def _why_401(self) -> str:
        if self.credential is None:
            return "authentication required (give --http-credential FILE)"
        return f"the credential of principal {self.credential.principal!r} was refused"


def _why_unreachable(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or error
    if isinstance(reason, ssl.SSLCertVerificationError):
        detail = reason.verify_message or str(reason)
        return f"certificate verify failed: {detail} (trust it with --ca-cert FILE)"
    if isinstance(reason, ssl.SSLError):
        return f"TLS failed: {reason.reason or reason} (is the address's scheme right?)"
    if isinstance(reason, ConnectionResetError):  # http.client.RemoteDisconnected is one
        return f"{reason or 'connection reset'} (does it serve https:// only?)"
    return str(reason) or type(reason).__name__


class _FollowTheLeader(urllib.request.HTTPRedirectHandler):
    """urllib's redirects, and a 307/308 of a POST too (a master that does not lead
    sends every operator call to the leader); the body and headers go along."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if code in (307, 308) and req.get_method() == "POST":
            return urllib.request.Request(
                newurl,
                data=req.data,
                headers=dict(req.headers),
                method="POST",
                origin_req_host=req.origin_req_host,
                unverifiable=True,
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def basic_authorization(credential: Credential) -> str:
    """The `Authorization` header's value for HTTP basic authentication (RFC 7617)."""
    token = f"{credential.principal}:{credential.secret}".encode()
    return "Basic " + base64.b64encode(token).decode("ascii")


def connect(options: argparse.Namespace, parser: Parser, master: str | None = None) -> ClusterApi:
    """The client for a command's flags (`--master`, or `master` when given, and the access
    flags): bad flags or files stop the command (exit 2), a ZooKeeper where no master
    leads with one line (exit 1)."""
    credential = _credential(options, parser)
    trusted = _trusted(options, parser)
    detector = operator_master(parser, options.master if master is None else master)
    base = asyncio.run(master_http(detector, parser.prog.removeprefix("zmesos ")))
    if base is None:
        parser.exit(1)
    return ClusterApi(base, credential, trusted)


def _access_flag(options: argparse.Namespace, name: str) -> tuple[str, str] | None:
    """`(where it came from, value)` of an access flag: the command line, then ZMESOS_<NAME>."""
    value = getattr(options, name, None)
    if value:
        return "--" + name.replace("_", "-"), value
    return from_environment(name, mesos=False)


def _credential(options: argparse.Namespace, parser: Parser) -> Credential | None:
    found = _access_flag(options, "http_credential")
    if found is None or not found[1]:
        return None
    origin, path = found
    try:
        return load_credential(path)
    except CredentialsError as error:
        parser.error(f"{origin}: {error}")


def _trusted(options: argparse.Namespace, parser: Parser) -> ssl.SSLContext | None:
    found = _access_flag(options, "ca_cert")
    if found is None or not found[1]:
        return None
    origin, path = found
    try:
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as error:
        reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or error
        parser.error(f"{origin}: cannot load {path} as PEM certificates: {reason}")


def agent_http_address(agent: Mapping[str, Any]) -> str:
    """`host:port` of an agent's HTTP, from its entry in the master's /state or /slaves."""
    address = agent.get("http_address")
    if address:
        return str(address)
    host = str(agent.get("pid", "")).partition("@")[2].rpartition(":")[0] or agent["hostname"]
    return f"{host}:{agent['port']}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Rows under headers, columns aligned (numbers to the right), two spaces apart."""
    cells = [[_cell(value) for value in row] for row in rows]
    numeric = [
        bool(rows) and all(_is_number(row[index]) for row in rows) for index in range(len(headers))
    ]
    widths = [
        max([len(header), *(len(row[index]) for row in cells)])
        for index, header in enumerate(headers)
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(list(headers)), *(line(row) for row in cells)])


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)

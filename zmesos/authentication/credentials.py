"""Credentials in Mesos's formats: who may authenticate (master) and who one is (client).

    --credentials FILE (master)   {"credentials": [{"principal": "a", "secret": "s"}, ...]}
    --credential FILE (client)    {"principal": "a", "secret": "s"}

Mesos's older text formats are read too: one `principal secret` pair per
line (the master's file) or a single line (a client's). A path may be
given as `file:///path`, as Mesos accepts. A file others may read is loaded
with a warning: secrets belong in a file only its user can read (0600).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import structlog

from zmesos.errors import CredentialsError
from zmesos.protocol.authentication import MAX_PRINCIPAL_LENGTH, PRINCIPAL_PATTERN

__all__ = ["Credential", "load_credential", "load_credentials"]

MAX_SECRET_LENGTH = 4096
MAX_FILE_BYTES = 1 << 20
_PRINCIPAL = re.compile(PRINCIPAL_PATTERN)

log = structlog.get_logger()


@dataclasses.dataclass(frozen=True)
class Credential:
    """A principal and its secret. The secret never appears in repr or logs."""

    principal: str
    secret: str = dataclasses.field(repr=False)


def load_credentials(path: str) -> dict[str, str]:
    """The master's credentials: principal -> secret. CredentialsError if unusable."""
    text = _read(path)
    document = _json(text)
    if document is None:
        pairs = [_text_pair(line, path) for line in text.splitlines() if line.strip()]
    else:
        if not isinstance(document, dict) or not isinstance(document.get("credentials"), list):
            raise CredentialsError(f'{path}: expected {{"credentials": [...]}}')
        pairs = [_json_pair(entry, path) for entry in document["credentials"]]
    if not pairs:
        raise CredentialsError(f"{path}: no credentials")
    credentials: dict[str, str] = {}
    for credential in pairs:
        if credential.principal in credentials:
            raise CredentialsError(f"{path}: principal {credential.principal!r} appears twice")
        credentials[credential.principal] = credential.secret
    return credentials


def load_credential(path: str) -> Credential:
    """One client's credential. CredentialsError if unusable."""
    text = _read(path)
    document = _json(text)
    if document is not None:
        return _json_pair(document, path)
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        raise CredentialsError(f"{path}: expected one 'principal secret' line or JSON")
    return _text_pair(lines[0], path)


def _read(path: str) -> str:
    location = Path(path.removeprefix("file://"))
    try:
        info = location.stat()
        if info.st_size > MAX_FILE_BYTES:
            raise CredentialsError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
        text = location.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise CredentialsError(f"cannot read credentials {path}: {error}") from None
    if info.st_mode & (stat.S_IRGRP | stat.S_IROTH) and os.name == "posix":
        log.warning("credentials_readable_by_others", path=str(location), mode=oct(info.st_mode))
    return text


def _json(text: str) -> Any:
    """The parsed document, or None when the text is not JSON (the text format)."""
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except ValueError as error:
        raise CredentialsError(f"credentials are not valid JSON: {error}") from None


def _json_pair(entry: object, path: str) -> Credential:
    if not isinstance(entry, dict):
        raise CredentialsError(f"{path}: a credential must be an object")
    return _checked(entry.get("principal"), entry.get("secret"), path)


def _text_pair(line: str, path: str) -> Credential:
    parts = line.split()
    if len(parts) != 2:
        raise CredentialsError(f"{path}: expected 'principal secret' on each line")
    return _checked(parts[0], parts[1], path)


def _checked(principal: object, secret: object, path: str) -> Credential:
    if not isinstance(principal, str) or not _PRINCIPAL.match(principal):
        raise CredentialsError(f"{path}: a principal must be a non-empty string without spaces")
    if len(principal) > MAX_PRINCIPAL_LENGTH:
        raise CredentialsError(f"{path}: principal longer than {MAX_PRINCIPAL_LENGTH}")
    if not isinstance(secret, str) or not secret:
        raise CredentialsError(f"{path}: principal {principal!r} has no secret")
    if len(secret) > MAX_SECRET_LENGTH:
        raise CredentialsError(f"{path}: secret of {principal!r} is too long")
    return Credential(principal, secret)

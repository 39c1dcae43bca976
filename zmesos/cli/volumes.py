"""`zmesos reserve`, `zmesos unreserve`, `zmesos volumes create|destroy|list`: the operator
endpoints of a master (POST /reserve, /unreserve, /create-volumes, /destroy-volumes;
GET /state) from the command line.

Resources are given in the text form, e.g.
`zmesos reserve --master 127.0.0.1:5050 --agent S0 --resources 'cpus(ops DYNAMIC principal=op):1'`
or `zmesos volumes create ... --volumes 'disk(ops DYNAMIC principal=op)[db:data principal=op]:100'`.
`--master` is the master's HTTP address (`https://` with TLS) or
`zk://HOST:PORT/PATH` (the leading master); `--http-credential` and `--ca-cert`
as zmesos.cli.master_api says. Each prints what changed, or one line saying why not (exit
status 1); a bad flag exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from zmesos.cli.flags import Parser
from zmesos.cli.master_api import ApiUnavailable, add_master_flag, connect
from zmesos.errors import ApiError, ResourcesError
from zmesos.resources import Resources
from zmesos.v1.resources import resources_from_v1, resources_to_v1

__all__ = ["reserve", "unreserve", "volumes"]

# subcommand -> (endpoint, form field, flag, verb for the result line)
_CHANGES = {
    "reserve": ("reserve", "resources", "--resources", "reserved"),
    "unreserve": ("unreserve", "resources", "--resources", "unreserved"),
    "create": ("create-volumes", "volumes", "--volumes", "created"),
    "destroy": ("destroy-volumes", "volumes", "--volumes", "destroyed"),
}


def _add_change_flags(parser: argparse.ArgumentParser, flag: str) -> None:
    add_master_flag(parser, required=True)
    parser.add_argument("--agent", required=True, help="the agent's id (see `volumes list`)")
    parser.add_argument(flag, required=True, dest="resources", help="resources, in text form")


def _run_change(options: argparse.Namespace, parser: Parser, change: str) -> int:
    endpoint, field, _, verb = _CHANGES[change]
    try:
        resources = Resources.parse(options.resources)
    except ResourcesError as error:
        parser.error(str(error))
    api = connect(options, parser)
    form = {"slaveId": options.agent, field: json.dumps(resources_to_v1(resources))}
    try:
        answer = api.post(f"/{endpoint}", form=form)
    except ApiUnavailable as error:
        print(f"zmesos: {error}", file=sys.stderr)
        return 1
    if answer.status != 202:
        print(f"zmesos: not {verb} (HTTP {answer.status}): {answer.text}", file=sys.stderr)
        return 1
    print(f"{verb} {resources} on agent {options.agent}")
    return 0


class _Change:
    """`zmesos reserve` and `zmesos unreserve`: one module-like object each for the CLI table."""

    def __init__(self, change: str, help_text: str) -> None:
        self.change = change
        self.help = help_text

    def add_parser(
        self, commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str
    ) -> None:
        parser = commands.add_parser(name, help=self.help, description=__doc__)
        _add_change_flags(parser, _CHANGES[self.change][2])

    def run(self, options: argparse.Namespace, parser: Parser) -> int:
        return _run_change(options, parser, self.change)


reserve = _Change("reserve", "reserve resources on an agent for a role")
unreserve = _Change("unreserve", "unreserve dynamically reserved resources")


class _Volumes:
    """`zmesos volumes create|destroy|list`."""

    def add_parser(
        self, commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str
    ) -> None:
        parser = commands.add_parser(name, help="create, destroy or list persistent volumes")
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        for action in ("create", "destroy"):
            _add_change_flags(
                actions.add_parser(action, help=f"{action} volumes on an agent"), "--volumes"
            )
        listing = actions.add_parser("list", help="every agent's persistent volumes")
        add_master_flag(listing, required=True)

    def run(self, options: argparse.Namespace, parser: Parser) -> int:
        if options.action != "list":
            return _run_change(options, parser, options.action)
        api = connect(options, parser)
        try:
            state = api.get_json("/state")
        except ApiUnavailable as error:
            print(f"zmesos: cannot read the master's /state: {error}", file=sys.stderr)
            return 1
        try:
            rows = list(_volume_rows(state))
        except (ApiError, KeyError, TypeError) as error:
            print(f"zmesos: unexpected /state from the master: {error}", file=sys.stderr)
            return 1
        print("AGENT\tROLE\tID\tPATH\tMODE\tMB\tSHARED")
        for row in rows:
            print("\t".join(row))
        return 0


def _volume_rows(state: object) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for agent in state["slaves"]:  # type: ignore[index]
        for role, listed in sorted(agent.get("reserved_resources_full", {}).items()):
            for volume in resources_from_v1(listed, f"{agent['id']}/{role}").persistent_volumes():
                disk = volume.disk
                assert disk is not None
                rows.append(
                    (
                        agent["id"],
                        volume.role,
                        disk.persistence_id,
                        disk.container_path,
                        disk.mode,
                        f"{volume.scalar:g}",
                        "yes" if volume.shared else "no",
                    )
                )
    return rows


volumes = _Volumes()

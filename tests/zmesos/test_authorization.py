"""ACLs in Mesos's JSON format and the decisions on them (Mesos's local authorizer's tables)."""

from __future__ import annotations

import json

import pytest

from zmesos.authorization import Authorizer, load_acls, parse_acls
from zmesos.errors import AclsError

SOME_A = {"values": ["a"]}
ANY = {"type": "ANY"}
NONE = {"type": "NONE"}


def decide(rule_subjects, rule_roles, principal, role, permissive=False) -> bool:
    acls = parse_acls(
        {
            "permissive": permissive,
            "register_frameworks": [{"principals": rule_subjects, "roles": rule_roles}],
        }
    )
    return Authorizer(acls).allowed("register_frameworks", principal, role)


@pytest.mark.parametrize(
    ("subjects", "principal", "permissive", "allowed"),
    [
        (SOME_A, "a", False, True),  # listed: allowed
        (SOME_A, "b", False, False),  # not listed: the rule does not match; permissive decides
        (SOME_A, "b", True, True),
        (SOME_A, None, False, False),  # unknown principal: SOME never matches it
        (SOME_A, None, True, True),
        (ANY, "b", False, True),
        (ANY, None, False, True),
        (NONE, "a", True, False),  # NONE matches everyone and refuses
        (NONE, None, True, False),
    ],
)
def test_authorizer_subject_tables(subjects, principal, permissive, allowed):
    assert decide(subjects, ANY, principal, "web", permissive) is allowed


def test_authorizer_first_matching_rule_decides_in_order():
    acls = parse_acls(
        {
            "permissive": True,
            "run_tasks": [
                {"principals": {"values": ["ops"]}, "users": ANY},
                {"principals": ANY, "users": {"values": ["root"]}},
                {"principals": ANY, "users": NONE},
            ],
        }
    )
    authorizer = Authorizer(acls)
    assert authorizer.allowed("run_tasks", "ops", "anyone")
    assert authorizer.allowed("run_tasks", "dev", "root")
    assert not authorizer.allowed("run_tasks", "dev", "nobody")  # the NONE rule catches it
    assert authorizer.allowed("reserve_resources", "dev", "web")  # no rules: permissive
    with pytest.raises(ValueError, match="unknown action"):
        authorizer.allowed("fly", "dev", None)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ([], "must be a JSON object"),
        ({"permissive": "no"}, "'permissive' must be true or false"),
        ({"register_framework": []}, "unknown or unsupported ACL action 'register_framework'"),
        ({"run_tasks": {}}, "must be a list of rules"),
        ({"run_tasks": [{"principals": ANY}]}, "needs 'users'"),
        ({"run_tasks": [{"principals": ANY, "roles": ANY}]}, "unknown field"),
        ({"run_tasks": [{"principals": {"type": "SOMEONE"}, "users": ANY}]}, "type must be"),
        ({"run_tasks": [{"principals": {"values": "a"}, "users": ANY}]}, "list of strings"),
        ({"run_tasks": [{"principals": {"values": []}, "users": ANY}]}, "names no values"),
        ({"run_tasks": [{"principals": ANY, "users": ANY, "x": 1}]}, "unknown field"),
    ],
)
def test_acls_refused_with_a_reason(document, problem):
    with pytest.raises(AclsError, match=problem):
        parse_acls(document)


def test_acls_load_from_a_file(tmp_path):
    path = tmp_path / "acls.json"
    path.write_text(
        json.dumps({"permissive": False, "get_quotas": [{"principals": ANY, "roles": ANY}]})
    )
    acls = load_acls(f"file://{path}")
    assert not acls.permissive and len(acls.rules["get_quotas"]) == 1
    path.write_text("{")
    with pytest.raises(AclsError, match="not valid JSON"):
        load_acls(str(path))
    with pytest.raises(AclsError, match="cannot read"):
        load_acls(str(tmp_path / "missing.json"))


def test_acls_worked_example_in_the_readme_decides_as_it_says():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("cat > /etc/zmesos/acls.json <<'JSON'\n")
    document = readme[start:].split("\n", 1)[1].split("\nJSON\n", 1)[0]
    authorizer = Authorizer(parse_acls(json.loads(document)))
    assert authorizer.allowed("register_frameworks", "analytics", "analytics")
    assert not authorizer.allowed("register_frameworks", "bob", "analytics")
    assert authorizer.allowed("register_frameworks", "bob", "web")
    assert authorizer.allowed("run_tasks", "analytics", "analytics")
    assert not authorizer.allowed("run_tasks", "analytics", "root")
    assert authorizer.allowed("teardown_frameworks", "ops", "analytics")
    assert not authorizer.allowed("teardown_frameworks", "analytics", "analytics")
    assert not authorizer.allowed("view_frameworks", None, "analytics")


def test_authorizer_subtree_of_roles_in_role_actions():
    """`eng/%` names every role below eng (Mesos's hierarchical roles), in its rule's place."""
    acls = parse_acls(
        {
            "permissive": False,
            "reserve_resources": [
                {"principals": {"values": ["ops"]}, "roles": {"values": ["eng/%", "web"]}},
                {"principals": {"type": "NONE"}, "roles": {"values": ["eng/secret/%"]}},
                {"principals": ANY, "roles": {"values": ["eng/secret/x"]}},
            ],
            "run_tasks": [{"principals": ANY, "users": {"values": ["eng/%"]}}],
        }
    )
    authorizer = Authorizer(acls)
    assert authorizer.allowed("reserve_resources", "ops", "eng/web")
    assert authorizer.allowed("reserve_resources", "ops", "eng/web/frontend")
    assert authorizer.allowed("reserve_resources", "ops", "web")
    assert not authorizer.allowed("reserve_resources", "ops", "eng")  # not below itself
    assert not authorizer.allowed("reserve_resources", "ops", "engineering/web")
    assert not authorizer.allowed("reserve_resources", "ops", None)  # no role: no subtree
    assert not authorizer.allowed("reserve_resources", "dev", "eng/web")  # permissive: false
    # The NONE rule catches eng/secret/x before the rule allowing it to everyone.
    assert not authorizer.allowed("reserve_resources", "dev", "eng/secret/x")
    # Outside the actions on roles, `%` is a plain character.
    assert authorizer.allowed("run_tasks", "dev", "eng/%")
    assert not authorizer.allowed("run_tasks", "dev", "eng/web")

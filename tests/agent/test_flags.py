"""Agent flags: master address, resources (given and detected), attributes, durations."""

from __future__ import annotations

import os

import pytest

from agent.errors import FlagsError
from agent.flags import (
    AgentFlags,
    detect_resources,
    parse_attributes,
    parse_duration,
)
from libprocess import PID
from zmesos.detector import ActorDetector, HttpDetector
from zmesos.flags import parse_bytes
from zmesos.resources import Resources


def test_flags_master_accepts_an_http_address_and_an_actor_pid():
    http = AgentFlags(master="10.0.0.1:5050").master_detector
    assert isinstance(http, HttpDetector) and http.url == "http://10.0.0.1:5050/actor"
    actor = AgentFlags(master="master@h:5050").master_detector
    assert isinstance(actor, ActorDetector) and actor.fixed == PID("master", "h", 5050)


@pytest.mark.parametrize(
    "text", ["h", "h:", ":5050", "h:99999", "h:port", "a b:1", "ftp://h:1", "m@h"]
)
def test_flags_bad_master_is_a_one_line_error(text):
    with pytest.raises(FlagsError, match="--master") as caught:
        AgentFlags(master=text)
    assert "\n" not in str(caught.value)


def test_flags_master_is_required_to_build_an_agent():
    with pytest.raises(FlagsError, match="--master is required"):
        AgentFlags().master_detector  # noqa: B018


def test_flags_attributes_parse_to_a_dict():
    assert parse_attributes("rack:a;zone:b") == {"rack": "a", "zone": "b"}
    assert parse_attributes(" rack : a ; ") == {"rack": "a"}
    assert parse_attributes("") == {}
    assert AgentFlags(attributes="os:linux").attribute_map == {"os": "linux"}


@pytest.mark.parametrize("text", ["rack", "rack:", ":a", "rack:a;rack:b", "rack:a;zone"])
def test_flags_bad_attributes_are_one_line_errors(text):
    with pytest.raises(FlagsError, match="--attributes") as caught:
        AgentFlags(attributes=text)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("text", ["cpus:x", "cpus", "cpus:-1", "ports:[5-1]", "cpus(:1"])
def test_flags_bad_resources_are_one_line_errors(text):
    with pytest.raises(FlagsError, match="--resources") as caught:
        AgentFlags(resources=text)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_flags_other_bad_values():
    with pytest.raises(FlagsError, match="--executor-registration-timeout"):
        AgentFlags(executor_registration_timeout=-1)
    with pytest.raises(FlagsError, match="--work-dir"):
        AgentFlags(work_dir="")
    with pytest.raises(FlagsError, match="--port"):
        AgentFlags(port=70000)
    with pytest.raises(FlagsError, match="--actor-port"):
        AgentFlags(actor_port=-1)
    with pytest.raises(FlagsError, match="--recover: 'restart' is not one of reconnect, cleanup"):
        AgentFlags(recover="restart")
    with pytest.raises(FlagsError, match="--executor-reregistration-timeout"):
        AgentFlags(executor_reregistration_timeout=-1)


def test_flags_defaults_follow_mesos():
    flags = AgentFlags()
    assert flags.registration_backoff_factor == 1.0
    assert flags.executor_shutdown_grace_period == 5.0
    assert flags.executor_registration_timeout == 60.0
    assert flags.work_dir


def test_flags_given_resources_are_kept_and_the_rest_detected(tmp_path):
    flags = AgentFlags(
        resources="cpus:3;mem:512;disk:100;ports:[1-2];gpus:1", work_dir=str(tmp_path)
    )
    assert detect_resources(flags) == Resources.parse("cpus:3;mem:512;disk:100;ports:[1-2];gpus:1")

    detected = detect_resources(AgentFlags(resources="cpus(web):2", work_dir=str(tmp_path)))
    assert detected.reserved("web") == Resources.parse("cpus(web):2")
    assert detected.unreserved().cpus == 0  # cpus were named: not detected
    assert detected.mem > 0 and detected.disk > 0
    assert detected.ports == ((31000, 32000),)


def test_flags_detected_resources_leave_a_reserve_to_the_host(tmp_path):
    detected = detect_resources(AgentFlags(work_dir=str(tmp_path / "not-yet")))
    total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    free_mb = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize / 2**20
    assert detected.cpus == os.cpu_count()
    assert detected.mem == pytest.approx(total_mb - min(1024, total_mb / 2), abs=1)
    assert detected.disk == pytest.approx(free_mb - min(5120, free_mb / 2), rel=0.05)


def test_flags_durations_read_mesos_spellings():
    assert parse_duration("10secs") == 10
    assert parse_duration("1mins") == 60
    assert parse_duration("500ms") == 0.5
    assert parse_duration("2hrs") == 7200
    assert parse_duration("1.5") == 1.5
    with pytest.raises(FlagsError, match="bad duration"):
        parse_duration("10 parsecs")


def test_flags_sizes_read_mesos_spellings():
    assert parse_bytes("2GB") == 2 << 30
    assert parse_bytes("512MB") == 512 << 20
    assert parse_bytes("100kb") == 100 << 10
    assert parse_bytes("10B") == parse_bytes("10") == 10
    for bad in ("2XB", "-1", "1.5GB", "", "GB"):
        with pytest.raises(FlagsError, match="bad size"):
            parse_bytes(bad)

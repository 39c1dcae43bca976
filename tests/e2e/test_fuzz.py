"""Fuzz at the edge: every message type, random and boundary values, at a real master and agent.

Both sweeps use benchmarks.fuzz's harness (real nodes, real ZeroMQ on loopback):
afterwards no handler has raised, the registries agree with themselves, and a
new framework runs a task to TASK_FINISHED. `make bench-fuzz` sends 10^5 frames.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import msgpack
import msgspec
import uvloop
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.fuzz import (
    Targets,
    check_agent,
    check_master,
    run_fuzz,
    serves_a_framework,
    start_targets,
    wait_taken,
)
from libprocess import Message
from zmesos.protocol import TaskState

SEED = 20261203


async def test_fuzz_random_frame_sweep_leaves_master_and_agent_serving(tmp_path: Path):
    result, states = await run_fuzz(3_000, SEED, tmp_path)
    print(f"seed {SEED}: {result.frames} frames, {result.frames_per_second:,.0f} frames/s")
    assert result.master_handler_errors == 0 and result.agent_handler_errors == 0
    assert result.problems == []
    assert result.master_refused > 0 and result.agent_refused > 0  # bad values were sent
    assert states[-1] is TaskState.FINISHED


_WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(),
    st.binary(max_size=8),
    st.text(max_size=8),
    st.just([]),
    st.just({}),
)


def _strategy(info: msgspec.inspect.Type, known: list[str], depth: int = 0) -> Any:
    inspect = msgspec.inspect
    typed: st.SearchStrategy[Any]
    if isinstance(info, inspect.StructType):
        required = {
            f.encode_name: _strategy(f.type, known, depth + 1) for f in info.fields if f.required
        }
        optional = {
            f.encode_name: _strategy(f.type, known, depth + 1)
            for f in info.fields
            if not f.required
        }
        typed = st.fixed_dictionaries(required, optional=optional)
    elif isinstance(info, (inspect.ListType, inspect.VarTupleType, inspect.SetType)):
        typed = st.lists(
            _strategy(info.item_type, known, depth + 1), max_size=2 if depth < 3 else 0
        )
    elif isinstance(info, inspect.DictType):
        typed = st.dictionaries(
            st.sampled_from(known) | st.text(max_size=4),
            _strategy(info.value_type, known, depth + 1),
            max_size=2 if depth < 3 else 0,
        )
    elif isinstance(info, inspect.UnionType):
        typed = st.one_of([_strategy(t, known, depth) for t in info.types])
    elif isinstance(info, inspect.EnumType):
        typed = st.sampled_from([m.value for m in info.cls]) | st.sampled_from(["BOGUS", ""])
    elif isinstance(info, inspect.StrType):
        typed = st.sampled_from(known) | st.text(max_size=20) | st.just("x" * 300)
    elif isinstance(info, inspect.IntType):
        typed = st.integers(min_value=-(2**63), max_value=2**63 - 1)
    elif isinstance(info, inspect.FloatType):
        typed = st.floats() | st.sampled_from([math.nan, math.inf, -0.0])
    elif isinstance(info, inspect.BytesType):
        typed = st.binary(max_size=32)
    elif isinstance(info, inspect.BoolType):
        typed = st.booleans()
    else:
        typed = _WRONG
    return typed if depth == 0 else (typed | _WRONG if depth < 3 else typed)


def test_fuzz_hypothesis_messages_leave_master_and_agent_serving(tmp_path: Path):
    """Hypothesis draws message bodies from each type's schema; the nodes refuse or handle them."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        targets: Targets = runner.run(start_targets(tmp_path))
        try:
            known = [
                str(targets.master.pid),
                str(targets.agent.pid),
                str(targets.driver.pid),
                targets.agent.agent.agent_id,
                targets.driver.framework_id,
                *(offer.id for offer in targets.master.master.offers.all()),
            ]
            names = sorted(Message.registry)
            bodies = {
                name: _strategy(msgspec.inspect.type_info(Message.registry[name]), known)
                for name in names
            }
            sink_host, sink_port = targets.sink.address
            sender = f"fuzz(1)@{sink_host}:{sink_port}"
            frames = st.sampled_from(names).flatmap(
                lambda name: st.tuples(
                    st.just(name),
                    st.lists(bodies[name], min_size=1, max_size=2),
                    st.sampled_from(["master", "agent"]),
                    st.sampled_from([sender, str(targets.driver.pid)]),
                )
            )

            @settings(
                max_examples=120,
                deadline=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(frames)
            def one_frame(drawn: tuple[str, list[Any], str, str]) -> None:
                name, messages, key, from_pid = drawn
                frame = msgpack.packb([[from_pid, key, name, messages]])
                runner.run(wait_taken(targets, key, frame))

            one_frame()
            assert targets.master.node.metrics["handler_errors"] == 0
            assert targets.agent.node.metrics["handler_errors"] == 0
            assert check_master(targets.master) + check_agent(targets.agent) == []
            states = runner.run(serves_a_framework(targets))
            assert states[-1] is TaskState.FINISHED
        finally:
            runner.run(targets.stop())

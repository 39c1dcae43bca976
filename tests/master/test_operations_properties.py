"""Property: any sequence of valid and invalid operations keeps master, agent and allocator agreed.

The master's view of an agent (its total after each accepted operation), the
agent's (its flag resources with the checkpointed resources it wrote to disk
applied) and the allocator's (its total after `update_allocation`) stay equal,
and no operation creates or destroys any quantity of any resource.
"""

from __future__ import annotations

import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.volume_handlers import load_checkpointed_resources, write_checkpointed_resources
from master.allocator import HierarchicalAllocator
from master.operations import Refusal, apply_operation
from zmesos.protocol import FrameworkInfo, Operation, OperationType
from zmesos.resources import Resource, Resources, apply_checkpoint, checkpointed_part

FLAGS = Resources.parse("cpus:4;mem:1024;disk:1000;cpus(db):1;disk(db):200")
FRAMEWORK = FrameworkInfo(
    user="u", name="f", roles=("db", "db/x"), principal="p", capabilities=("SHARED_RESOURCES",)
)
ROLES = ["db", "db", "db", "db/x", "web"]
VOLUME_KINDS = (OperationType.DESTROY, OperationType.GROW_VOLUME, OperationType.SHRINK_VOLUME)


@st.composite
def operations(draw: st.DrawFn) -> Operation:
    launches = (OperationType.LAUNCH, OperationType.LAUNCH_GROUP)
    others = [kind for kind in OperationType if kind not in launches]
    kinds = [OperationType.RESERVE, OperationType.CREATE, *others]
    kind = draw(st.sampled_from(kinds))  # every kind but the launches, making things more often
    role = draw(st.sampled_from(ROLES))
    # db/x refines the static db reservation or a dynamic one; others reserve plain resources
    stack = f"db DYNAMIC principal=p,{role} DYNAMIC" if role == "db/x" else f"{role} DYNAMIC"
    if draw(st.booleans()) and role == "db/x":
        stack = f"db,{role} DYNAMIC"
    principal = draw(st.sampled_from(["p"] * 5 + ["q"]))
    reservation = f"({stack} principal={principal})"
    amount = draw(st.integers(1, 10)) * 10
    if kind in (OperationType.RESERVE, OperationType.UNRESERVE):
        amount *= 3
        name = draw(st.sampled_from(["cpus", "disk", "mem"]))
        scalar = amount / 100 if name == "cpus" else amount
        text = f"{name}{reservation}:{scalar}"
        return Operation(type=kind, resources=tuple(Resources.parse(text).to_list()))
    persistence_id = draw(st.sampled_from(["a", "b"]))
    path = draw(st.sampled_from(["data"] * 5 + ["../up"]))
    shared = "<SHARED>" if draw(st.integers(0, 4)) == 0 else ""
    text = f"disk{reservation}[{persistence_id}:{path} principal={principal}]{shared}:{amount}"
    [volume] = Resources.parse(text).to_list()
    if kind in (OperationType.CREATE, OperationType.DESTROY):
        return Operation(type=kind, resources=(volume,))
    if kind == OperationType.GROW_VOLUME:
        [addition] = Resources.parse(f"disk{reservation}:{amount // 2}").to_list()
        return Operation(type=kind, volume=volume, addition=addition)
    return Operation(type=kind, volume=volume, subtract=float(draw(st.integers(0, 300))))


@settings(max_examples=60, deadline=None)
@given(st.lists(operations(), min_size=3, max_size=20), st.randoms(use_true_random=False))
def test_operations_keep_master_agent_and_allocator_views_equal(sequence, rng):
    allocator = HierarchicalAllocator(random_seed=rng.randint(0, 2**32))
    allocator.add_agent("A", FLAGS)
    allocator.add_framework("F", FRAMEWORK.roles)
    allocator.allocate(0.0)  # the framework now holds all it may: the offers of the Accepts
    total = FLAGS
    seed = Resources.parse("disk(db DYNAMIC principal=p):300;disk(db,db/x DYNAMIC principal=p):200")
    first = Operation(type=OperationType.RESERVE, resources=tuple(seed.to_list()))
    with tempfile.TemporaryDirectory() as work_dir:
        for operation in [first, *sequence]:
            held = allocator.agents["A"].holding("F")
            role = "db" if "db" in held else next(iter(held), "db")
            available = held.get(role, Resources())
            # Reuse real volumes of the agent for GROW/SHRINK/DESTROY now and then.
            volumes = list(total.persistent_volumes())
            reserved = [r for r in checkpointed_part(total) if not r.is_persistent_volume]
            if reserved and operation.type == OperationType.UNRESERVE and rng.random() < 0.7:
                operation = Operation(type=operation.type, resources=(rng.choice(reserved),))
            elif volumes and operation.type in VOLUME_KINDS and rng.random() < 0.7:
                volume = rng.choice(volumes)
                operation = Operation(
                    type=operation.type,
                    resources=(volume,) if operation.type == OperationType.DESTROY else (),
                    volume=volume if operation.type != OperationType.DESTROY else None,
                    addition=Resource(
                        "disk", "SCALAR", scalar=10.0, reservations=volume.reservations
                    ),
                    subtract=round(volume.scalar * rng.choice([0.0, 0.5, 1.0]), 3),
                )
            result = apply_operation(
                operation,
                framework=FRAMEWORK,
                available=available,
                agent_total=total,
                in_use=Resources(),
            )
            if isinstance(result, Refusal):
                continue
            total = total - result.consumed + result.converted
            allocator.update_allocation("F", "A", result.consumed, result.converted, role=role)
            write_checkpointed_resources(work_dir, checkpointed_part(total))
            agent_view = apply_checkpoint(FLAGS, load_checkpointed_resources(work_dir))
            assert agent_view == total
            assert allocator.agents["A"].total == total
            assert total.scalars() == FLAGS.scalars()

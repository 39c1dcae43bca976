"""Master flags: the allocator's (fair sharing exclusions, the GPU filter)."""

from __future__ import annotations

import pytest

from libprocess import Node
from libprocess.testing import settle
from master import Master, MasterFlags
from master.allocator_process import AllocatorProcess
from zmesos.errors import FlagsError


def test_flags_fair_sharing_excluded_resource_names_is_a_comma_separated_list():
    assert MasterFlags().fair_sharing_excluded_names() == ()
    flags = MasterFlags(fair_sharing_excluded_resource_names="gpus, fpgas")
    assert flags.fair_sharing_excluded_names() == ("gpus", "fpgas")


@pytest.mark.parametrize("text", ["gpus,,cpus", "gpus,", "bad name", "cpus;mem"])
def test_flags_bad_fair_sharing_excluded_resource_names_is_a_one_line_error(text):
    with pytest.raises(FlagsError, match="--fair-sharing-excluded-resource-names") as caught:
        MasterFlags(fair_sharing_excluded_resource_names=text)
    assert "\n" not in str(caught.value)


async def test_flags_reach_the_masters_allocator():
    async with Node() as node:
        flags = MasterFlags(
            master_id="M", fair_sharing_excluded_resource_names="gpus", filter_gpu_resources=False
        )
        master = Master(flags)
        node.spawn(master)
        await settle()
        process = node.processes[master.allocator.name]
        assert isinstance(process, AllocatorProcess)
        assert process.allocator.totals.excluded == frozenset({"gpus"})
        assert process.allocator.filter_gpu_resources is False

"""Allocator benchmarks, mirroring Mesos's HierarchicalAllocator benchmarks.

    python -m benchmarks.allocator [--json FILE] [--scenario NAME] [--quick]
                                   [--seed N] [--profile NAME]

Scenarios (set-ups follow src/tests/hierarchical_allocator_tests.cpp and
hierarchical_allocator_benchmarks.cpp in apache/mesos):

- decline_offers_AxF: A agents of `cpus:24;mem:4096;disk:4096;ports:[31000-32000]`,
  F frameworks in role `*`; agent i starts with `cpus:16;mem:2014;disk:1024`
  and 16 single ports used by framework i % F (Mesos's round robin). After the
  first cycle (Mesos runs it as agents are added), every round declines every
  offer with a practically infinite filter and times one allocation cycle.
- suppress_offers_10000x1000: the same cluster (`mem:1024` used); each round
  recovers offers unfiltered, suppresses another fifth of the frameworks and
  times one cycle.
- large_and_small_quota_3000: 3,000 agents of `cpus:2;mem:2048;disk:2048`;
  2,500 roles with quota `cpus:1;mem:1024;disk:1024` and 500 with
  `cpus:4;mem:4096;disk:4096`, one framework each; times the first cycle
  (which meets every guarantee and hands out the rest by DRF) and reports the
  second (which has nothing to offer).
- update_allocation_200_roles: one agent holding dynamic reservations of 200
  roles (a framework per role); times 20 RESERVE/UNRESERVE conversions
  through `update_allocation`, as Mesos's figure does.
- volumes_{plain,regular,shared,mixed}_2000x200: Mesos's persistent-volume
  benchmark at decline_offers_2000x200's size, frameworks in role `vol`:
  agents without volumes, with two regular volumes reserved to `vol`, two
  shared ones, or one of each; first cycle and decline cycles timed. Target:
  volumes cost less than 1.5x the plain cycle.

Each scenario runs in a fresh interpreter, so peak memory (max RSS) is its
own. Randomness is seeded (the seed is printed). Mesos's figures were
published from other machines; ratios compare across hardware.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from master.allocator import Allocation, HierarchicalAllocator
from zmesos.resources import DYNAMIC, RANGES, ReservationInfo, Resource, Resources

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SEED = 20240601
# Mesos's benchmark declines with refuse_seconds = INT_MAX.
LONG_FILTER = float(2**31 - 1)
AGENT = "cpus:24;mem:4096;disk:4096;ports:[31000-32000]"


@dataclass
class Scenario:
    name: str
    run: Callable[[argparse.Namespace], Result]
    mesos_seconds: float | None
    mesos_note: str
    target_seconds: float | None = None
    quick: bool = True


@dataclass
class Result:
    scenario: str
    seconds_per_cycle: float
    offers_per_cycle: float
    cpu_seconds_per_cycle: float = 0.0
    mean_seconds_per_cycle: float = 0.0
    rounds: list[dict[str, float]] = field(default_factory=list)
    setup_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    extra: dict[str, float] = field(default_factory=dict)
    peak_rss_mib: float = 0.0
    baseline_rss_mib: float = 0.0
    mesos_seconds: float | None = None
    mesos_note: str = ""
    target_seconds: float | None = None
    seed: int = DEFAULT_SEED
    profile: str = ""


# ---------------------------------------------------------------------------- cluster set-ups


def used_ports(count: int = 16) -> Resources:
    """`count` single ports spread over [31000-32000], like Mesos's `fragment`."""
    step = 1000 // count
    ranges = tuple((31000 + i * step, 31000 + i * step) for i in range(count))
    return Resources([Resource("ports", RANGES, ranges=ranges)])


def build_cluster(
    agents: int, frameworks: int, used: Resources, seed: int
) -> tuple[HierarchicalAllocator, list[str]]:
    allocator = HierarchicalAllocator(random_seed=seed)
    framework_ids = [f"framework{i}" for i in range(frameworks)]
    for framework_id in framework_ids:
        allocator.add_framework(framework_id, ["*"])
    total = Resources.parse(AGENT)
    for index in range(agents):
        holder = framework_ids[index % frameworks]
        allocator.add_agent(f"agent{index}", total, used={holder: used})
    return allocator, framework_ids


def recover(
    allocator: HierarchicalAllocator,
    offers: list[Allocation],
    now: float,
    refuse: float | None,
) -> float:
    """Return every offer (declining with `refuse` seconds); the seconds it took."""
    started = time.perf_counter()
    for offer in offers:
        allocator.recover_resources(
            offer.framework_id,
            offer.agent_id,
            offer.resources,
            refuse_seconds=refuse,
            now=now,
            role=offer.role,
        )
    return time.perf_counter() - started


def timed_allocate(allocator: HierarchicalAllocator, now: float) -> tuple[list[Allocation], float]:
    """One cycle; returns its offers and wall seconds (CPU seconds go to `LAST_CPU`)."""
    cpu = time.process_time()
    started = time.perf_counter()
    offers = allocator.allocate(now)
    elapsed = time.perf_counter() - started
    LAST_CPU[0] = time.process_time() - cpu
    return offers, elapsed


# CPU seconds of the last timed cycle: robust to other load on a shared machine.
LAST_CPU = [0.0]


# ---------------------------------------------------------------------------- scenarios


def decline_offers(agents: int, frameworks: int, rounds: int) -> Callable[..., Result]:
    def run(args: argparse.Namespace) -> Result:
        name = f"decline_offers_{agents}x{frameworks}"
        used = Resources.parse("cpus:16;mem:2014;disk:1024") + used_ports()
        started = time.perf_counter()
        allocator, _ = build_cluster(agents, frameworks, used, args.seed)
        setup = time.perf_counter() - started
        now = 0.0
        offers, first = timed_allocate(allocator, now)
        result = Result(name, 0.0, 0.0, setup_seconds=setup)
        result.extra["first_cycle_seconds"] = first
        result.extra["first_cycle_offers"] = len(offers)
        profiler = cProfile.Profile() if args.profile == name else None
        for index in range(rounds):
            declined = len(offers)
            decline_seconds = recover(allocator, offers, now, LONG_FILTER)
            now += 1.0
            if profiler is not None and index == rounds - 1:
                profiler.enable()
            offers, seconds = timed_allocate(allocator, now)
            if profiler is not None and index == rounds - 1:
                profiler.disable()
                result.profile = profile_text(profiler)
            result.rounds.append(
                {
                    "seconds": seconds,
                    "cpu_seconds": LAST_CPU[0],
                    "offers": len(offers),
                    "declined": declined,
                    "decline_seconds": decline_seconds,
                }
            )
        summarize(result)
        result.notes.append(
            f"{rounds} rounds after the first cycle (Mesos runs {2 * frameworks}); "
            "declining one round's offers took "
            f"{statistics.mean(r['decline_seconds'] for r in result.rounds):.3f} s"
        )
        return result

    return run


def decline_offers_to_exhaustion(args: argparse.Namespace) -> Result:
    """2k x 200 for every round Mesos runs (2 x frameworks), until nothing is left to offer."""
    agents, frameworks = 2000, 200
    rounds = 2 * frameworks
    result = decline_offers(agents, frameworks, rounds)(args)
    result.scenario = f"decline_offers_{agents}x{frameworks}_all_rounds"
    seconds = [r["seconds"] for r in result.rounds]
    offers = [r["offers"] for r in result.rounds]
    last_with_offers = max((i for i, n in enumerate(offers) if n), default=-1)
    result.notes[-1] = (
        f"all {rounds} rounds, as Mesos runs them; offers run out after round "
        f"{last_with_offers + 1}; first 10 rounds {statistics.mean(seconds[:10]):.4f} s, "
        f"last 10 {statistics.mean(seconds[-10:]):.4f} s per cycle"
    )
    result.extra["late_rounds_seconds"] = statistics.mean(seconds[-10:])
    return result


def suppress_offers(args: argparse.Namespace) -> Result:
    agents, frameworks, rounds = 10000, 1000, 5
    name = f"suppress_offers_{agents}x{frameworks}"
    used = Resources.parse("cpus:16;mem:1024;disk:1024") + used_ports()
    started = time.perf_counter()
    allocator, framework_ids = build_cluster(agents, frameworks, used, args.seed)
    setup = time.perf_counter() - started
    now = 0.0
    offers, first = timed_allocate(allocator, now)
    result = Result(name, 0.0, 0.0, setup_seconds=setup)
    result.extra["first_cycle_seconds"] = first
    suppressed = 0
    for _ in range(rounds):
        recover(allocator, offers, now, None)
        for _ in range(frameworks // rounds):
            allocator.suppress(framework_ids[suppressed])
            suppressed += 1
        now += 1.0
        offers, seconds = timed_allocate(allocator, now)
        result.rounds.append(
            {
                "seconds": seconds,
                "cpu_seconds": LAST_CPU[0],
                "offers": len(offers),
                "suppressed": suppressed,
            }
        )
    summarize(result)
    result.notes.append("a fifth more of the frameworks suppressed before each of 5 cycles")
    return result


def large_and_small_quota(args: argparse.Namespace) -> Result:
    small_roles, large_roles = 2500, 500
    agents = small_roles // 5 + large_roles * 5
    name = f"large_and_small_quota_{agents}"
    allocator = HierarchicalAllocator(random_seed=args.seed)
    started = time.perf_counter()
    total = Resources.parse("cpus:2;mem:2048;disk:2048")
    for index in range(agents):
        allocator.add_agent(f"agent-{index}", total)
    roles = [(f"smallQuotaRole{i}", "cpus:1;mem:1024;disk:1024") for i in range(small_roles)]
    roles += [(f"largeQuotaRole{i}", "cpus:4;mem:4096;disk:4096") for i in range(large_roles)]
    for index, (role, _) in enumerate(roles):
        allocator.add_framework(f"framework_{index}", [role])
    for role, quota in roles:
        allocator.set_quota(role, guarantee=Resources.parse(quota))
    setup = time.perf_counter() - started
    offers, seconds = timed_allocate(allocator, 1.0)
    cpu_seconds = LAST_CPU[0]
    nodes = [allocator.roles.get(role) for role, _ in roles]
    unmet = sum(1 for node in nodes if node is not None and node.unmet_guarantee())
    left = sum(agent.available.cpus for agent in allocator.agents.values())
    second, again = timed_allocate(allocator, 2.0)
    result = Result(name, seconds, len(offers), setup_seconds=setup)
    result.cpu_seconds_per_cycle = cpu_seconds
    result.mean_seconds_per_cycle = seconds
    result.rounds.append({"seconds": seconds, "cpu_seconds": cpu_seconds, "offers": len(offers)})
    result.extra["second_cycle_seconds"] = again
    result.extra["second_cycle_offers"] = len(second)
    result.extra["roles_with_unmet_guarantee"] = unmet
    result.extra["cpus_left_unoffered"] = left
    result.notes.append(
        f"{len(roles)} quota roles; after the first cycle {unmet} guarantees unmet and "
        f"{left:g} cpus unoffered; second cycle made {len(second)} offers in {again:.3f} s"
    )
    return result


def update_allocation(args: argparse.Namespace) -> Result:
    roles, operations = 200, 20
    name = f"update_allocation_{roles}_roles"
    allocator = HierarchicalAllocator(random_seed=args.seed)
    started = time.perf_counter()
    text = [f"cpus:{roles * 2};mem:{roles * 200};disk:{roles * 200}"]
    role_names = [f"role{i}" for i in range(roles)]
    reservation = {role: ReservationInfo(DYNAMIC, role, "ops") for role in role_names}
    total = Resources.parse(";".join(text))
    holdings: dict[str, Resources] = {}
    for role in role_names:
        reserved = Resources.parse("cpus:1;mem:100").pushed(reservation[role])
        holdings[f"framework-{role}"] = reserved + Resources.parse("cpus:1;mem:100")
        total = total - Resources.parse("cpus:1;mem:100") + reserved
    for role in role_names:
        allocator.add_framework(f"framework-{role}", [role])
    allocator.add_agent("agent", total, used={fid: held for fid, held in holdings.items()})
    setup = time.perf_counter() - started
    rng = random.Random(args.seed)
    unreserved = Resources.parse("cpus:1;mem:100")
    timings: list[float] = []
    cpu_timings: list[float] = []
    for index in range(operations):
        role = rng.choice(role_names)
        framework_id = f"framework-{role}"
        reserved = unreserved.pushed(reservation[role])
        held = allocator.allocation(framework_id, "agent")[role]
        began = time.perf_counter()
        cpu = time.process_time()
        if index % 2 == 0 and held.unreserved().contains(unreserved):
            allocator.update_allocation(framework_id, "agent", unreserved, reserved, role=role)
        else:
            allocator.update_allocation(framework_id, "agent", reserved, unreserved, role=role)
        timings.append(time.perf_counter() - began)
        cpu_timings.append(time.process_time() - cpu)
    result = Result(name, sum(timings), 0.0, setup_seconds=setup)
    result.cpu_seconds_per_cycle = sum(cpu_timings)
    result.mean_seconds_per_cycle = result.seconds_per_cycle
    result.rounds = [
        {"seconds": seconds, "cpu_seconds": cpu, "offers": 0}
        for seconds, cpu in zip(timings, cpu_timings, strict=True)
    ]
    result.notes.append(
        f"{operations} RESERVE/UNRESERVE conversions on one agent holding reservations of "
        f"{roles} roles: total {sum(timings) * 1e3:.2f} ms, "
        f"{statistics.mean(timings) * 1e6:.0f} us each"
    )
    return result


def volume_cluster(kind: str) -> Callable[..., Result]:
    """Mesos's persistent-volume allocator benchmark, at decline_offers_2000x200's size.

    2,000 agents of `AGENT`, 200 frameworks in role `vol`, agent i partly used by
    framework i % 200 as in decline_offers. `plain`: no volumes; `regular`: each
    agent also holds two 256 MB volumes reserved to `vol`; `shared`: two shared
    ones; `mixed`: one of each. Every round declines every offer with a long
    filter and times one cycle, as decline_offers does.
    """
    agents, frameworks, rounds = 2000, 200, 5
    name = f"volumes_{kind}_{agents}x{frameworks}"

    def agent_total(index: int) -> Resources:
        total = Resources.parse(AGENT)
        if kind == "plain":
            return total
        reservation = "(vol DYNAMIC principal=ops)"
        shared = {"regular": ("", ""), "shared": ("<SHARED>", "<SHARED>")}.get(
            kind, ("", "<SHARED>")
        )
        volumes = ";".join(
            f"disk{reservation}[v{index}-{n}:data principal=ops]{mark}:256"
            for n, mark in enumerate(shared)
        )
        return total - Resources.parse("disk:512") + Resources.parse(volumes)

    def run(args: argparse.Namespace) -> Result:
        used = Resources.parse("cpus:16;mem:2014;disk:1024") + used_ports()
        started = time.perf_counter()
        allocator = HierarchicalAllocator(random_seed=args.seed)
        framework_ids = [f"framework{i}" for i in range(frameworks)]
        for framework_id in framework_ids:
            # Shared volumes are offered only to frameworks that take them.
            allocator.add_framework(framework_id, ["vol"], capabilities=["SHARED_RESOURCES"])
        for index in range(agents):
            holder = framework_ids[index % frameworks]
            allocator.add_agent(f"agent{index}", agent_total(index), used={holder: used})
        setup = time.perf_counter() - started
        now = 0.0
        offers, first = timed_allocate(allocator, now)
        result = Result(name, 0.0, 0.0, setup_seconds=setup)
        result.extra["first_cycle_seconds"] = first
        result.extra["first_cycle_offers"] = len(offers)
        result.extra["volumes_offered_first_cycle"] = sum(
            len(offer.resources.persistent_volumes()) for offer in offers
        )
        for _ in range(rounds):
            recover(allocator, offers, now, LONG_FILTER)
            now += 1.0
            offers, seconds = timed_allocate(allocator, now)
            result.rounds.append(
                {"seconds": seconds, "cpu_seconds": LAST_CPU[0], "offers": len(offers)}
            )
        summarize(result)
        result.notes.append(
            f"first cycle {first:.3f} s offered "
            f"{result.extra['volumes_offered_first_cycle']} volumes; compare with "
            f"volumes_plain_{agents}x{frameworks} (target: < 1.5x)"
        )
        return result

    return run


def summarize(result: Result) -> None:
    """Median over rounds (this machine is shared and noisy); mean, min and max kept too."""
    result.seconds_per_cycle = statistics.median(r["seconds"] for r in result.rounds)
    result.cpu_seconds_per_cycle = statistics.median(r["cpu_seconds"] for r in result.rounds)
    result.mean_seconds_per_cycle = statistics.mean(r["seconds"] for r in result.rounds)
    result.offers_per_cycle = statistics.mean(r["offers"] for r in result.rounds)
    result.extra["min_cycle_seconds"] = min(r["seconds"] for r in result.rounds)
    result.extra["max_cycle_seconds"] = max(r["seconds"] for r in result.rounds)


def profile_text(profiler: cProfile.Profile, lines: int = 18) -> str:
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.strip_dirs().sort_stats("tottime").print_stats(lines)
    return stream.getvalue()


SCENARIOS = [
    Scenario(
        "decline_offers_2000x200",
        decline_offers(2000, 200, 5),
        2.92,
        "Mesos before MESOS-4694's fix",
    ),
    Scenario(
        "decline_offers_10000x1000",
        decline_offers(10000, 1000, 5),
        1.08,
        "Mesos 1.7-1.8: ~1.06-1.1 s",
        target_seconds=0.5,
    ),
    Scenario(
        "decline_offers_20000x2000",
        decline_offers(20000, 2000, 5),
        3.8,
        "Mesos 1.8",
        quick=False,
    ),
    Scenario(
        "decline_offers_50000x1000",
        decline_offers(50000, 1000, 5),
        None,
        "no published figure",
        quick=False,
    ),
    Scenario(
        "decline_offers_2000x200_all_rounds",
        decline_offers_to_exhaustion,
        None,
        "no published figure",
        quick=False,
    ),
    Scenario("suppress_offers_10000x1000", suppress_offers, None, "no published figure"),
    Scenario(
        "large_and_small_quota_3000",
        large_and_small_quota,
        15.4,
        "Mesos, Aug 2019, DRF sorter",
        target_seconds=1.5,
    ),
    Scenario(
        "update_allocation_200_roles",
        update_allocation,
        2.11,
        "Mesos, 20 operations",
        target_seconds=0.2,
    ),
    *(
        Scenario(
            f"volumes_{kind}_2000x200",
            volume_cluster(kind),
            None,
            "no published figure; compare with volumes_plain_2000x200",
            quick=False,
        )
        for kind in ("plain", "regular", "shared", "mixed")
    ),
]


# ---------------------------------------------------------------------------- running


def rss_mib() -> float:
    """This process's peak resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(args: argparse.Namespace) -> None:
    """Run one scenario here and print its Result as JSON (the parent's fresh interpreter)."""
    scenario = next(s for s in SCENARIOS if s.name == args.scenario)
    baseline = rss_mib()
    gc.collect()
    result = scenario.run(args)
    result.peak_rss_mib = rss_mib()
    result.baseline_rss_mib = baseline
    result.mesos_seconds = scenario.mesos_seconds
    result.mesos_note = scenario.mesos_note
    result.target_seconds = scenario.target_seconds
    result.seed = args.seed
    print(json.dumps(asdict(result)))


def run_isolated(name: str, args: argparse.Namespace) -> Result:
    command = [
        sys.executable,
        "-m",
        "benchmarks.allocator",
        "--child",
        name,
        "--seed",
        str(args.seed),
    ]
    if args.profile:
        command += ["--profile", args.profile]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=280)
    if done.returncode != 0:
        raise RuntimeError(f"scenario {name} failed:\n{done.stderr}")
    return Result(**json.loads(done.stdout.strip().splitlines()[-1]))


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
    }


def print_table(results: list[Result], host: dict[str, str]) -> None:
    print()
    print(
        f"{'scenario':36} {'ours s':>8} {'cpu s':>8} {'Mesos s':>8} {'Mesos/ours':>10} "
        f"{'offers':>7} {'peak MiB':>8}  target"
    )
    for result in results:
        mesos = f"{result.mesos_seconds:.2f}" if result.mesos_seconds else "-"
        ratio = (
            f"{result.mesos_seconds / result.seconds_per_cycle:.1f}x"
            if result.mesos_seconds
            else "-"
        )
        if result.target_seconds is None:
            target = ""
        else:
            verdict = "met" if result.seconds_per_cycle <= result.target_seconds else "MISSED"
            target = f"<= {result.target_seconds:g} s {verdict}"
        print(
            f"{result.scenario:36} {result.seconds_per_cycle:8.4f} "
            f"{result.cpu_seconds_per_cycle:8.4f} {mesos:>8} {ratio:>10} "
            f"{result.offers_per_cycle:7.0f} {result.peak_rss_mib:8.0f}  {target}"
        )
    print(
        "ours s: wall seconds per allocation cycle, median over rounds; cpu s: the same in "
        "CPU time\n(robust to other load); offers: per cycle; peak MiB: max RSS of the "
        "scenario's own interpreter."
    )
    print()
    for result in results:
        for note in result.notes:
            print(f"  {result.scenario}: {note}")
    print()
    print(
        f"Measured on {host['cores']} cores, {host['cpu']}, "
        f"{host['implementation']} {host['python']}."
    )
    print(
        "Mesos's figures were published from other hardware (its own benchmark runs); "
        "the ratio compares across machines, not like for like."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--scenario", help="run only this scenario")
    parser.add_argument("--quick", action="store_true", help="skip the largest scenarios")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--profile", help="cProfile the last timed cycle of this scenario")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.scenario = args.child
        run_child(args)
        return
    names = [s.name for s in SCENARIOS]
    if args.scenario:
        if args.scenario not in names:
            parser.error(f"unknown scenario {args.scenario!r}; choose from {', '.join(names)}")
        chosen = [args.scenario]
    else:
        chosen = [s.name for s in SCENARIOS if s.quick or not args.quick]
    print(f"allocator benchmarks, seed {args.seed}")
    results = []
    started = time.perf_counter()
    for name in chosen:
        result = run_isolated(name, args)
        results.append(result)
        print(
            f"  {name}: {result.seconds_per_cycle:.4f} s per cycle, "
            f"{result.offers_per_cycle:.0f} offers per cycle, setup {result.setup_seconds:.1f} s",
            flush=True,
        )
        if result.profile:
            print(result.profile)
    host = machine()
    print_table(results, host)
    print(f"whole run: {time.perf_counter() - started:.0f} s")
    if args.json:
        payload = {
            "machine": host,
            "seed": args.seed,
            "scenarios": {result.scenario: asdict(result) for result in results},
        }
        for entry in payload["scenarios"].values():
            entry["peak_memory_mib"] = entry["peak_rss_mib"]
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()

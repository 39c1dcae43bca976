"""Scalar resource quantities: `{"cpus": 2.0, "mem": 1024.0}` as plain dicts.

The allocator's bookkeeping (shares, quota consumption, headroom, what an
agent has left) runs on these dicts rather than on `Resources`: a dict update
over three or four names costs well under a microsecond, a `Resources`
subtraction with port ranges costs tens. `Resources` appear only at the edges,
where an offer is made or returned.

Amounts are rounded to Mesos's fixed-point precision (three decimals) on every
subtraction, so repeated allocate/recover cycles leave no float residue and a
fully recovered client compares equal to an empty one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = [
    "Quantities",
    "Requirements",
    "add_into",
    "contains",
    "is_empty",
    "meets_minimum",
    "minimum",
    "requirements_of",
    "subtract",
    "subtract_from",
    "total_of",
]

Quantities = dict[str, float]

# A minimum allocatable: alternatives, each a set of (name, amount) all of
# which an offer must hold. Empty: any non-empty offer will do.
Requirements = tuple[tuple[tuple[str, float], ...], ...]

# Mesos keeps scalars in fixed point with three decimals; we round a little
# finer so sums of many rounded amounts stay exact to Mesos's precision.
_DIGITS = 6


def add_into(target: Quantities, amounts: Mapping[str, float]) -> None:
    """Add `amounts` to `target` in place."""
    for name, amount in amounts.items():
        target[name] = target.get(name, 0.0) + amount


def subtract_from(target: Quantities, amounts: Mapping[str, float]) -> None:
    """Subtract `amounts` from `target` in place, dropping names that reach zero.

    Never goes negative: an amount larger than what `target` holds clears that
    name. Callers that must not over-subtract check `contains` first.
    """
    for name, amount in amounts.items():
        left = round(target.get(name, 0.0) - amount, _DIGITS)
        if left > 0.0:
            target[name] = left
        else:
            target.pop(name, None)


def subtract(left: Mapping[str, float], right: Mapping[str, float]) -> Quantities:
    """`left - right`, names at or below zero dropped."""
    result = dict(left)
    subtract_from(result, right)
    return result


def contains(outer: Mapping[str, float], inner: Mapping[str, float]) -> bool:
    """Whether `outer` holds at least every amount in `inner`."""
    return all(outer.get(name, 0.0) >= amount - 1e-9 for name, amount in inner.items())


def minimum(left: Mapping[str, float], right: Mapping[str, float]) -> Quantities:
    """Per name, the smaller of the two; names missing from either are dropped."""
    return {name: min(amount, right[name]) for name, amount in left.items() if name in right}


def is_empty(amounts: Mapping[str, float]) -> bool:
    """Whether every amount is zero."""
    return not any(amount > 0.0 for amount in amounts.values())


def total_of(parts: Iterable[Mapping[str, float]]) -> Quantities:
    """The sum of several quantity dicts."""
    result: Quantities = {}
    for part in parts:
        add_into(result, part)
    return result


def requirements_of(alternatives: Iterable[Mapping[str, float]]) -> Requirements:
    """The `Requirements` form of a list of quantity dicts."""
    return tuple(
        tuple((name, float(amount)) for name, amount in alternative.items())
        for alternative in alternatives
    )


def meets_minimum(amounts: Mapping[str, float], requirements: Requirements) -> bool:
    """Whether `amounts` hold every quantity of one of `requirements` (any when empty)."""
    if not requirements:
        return bool(amounts)
    for requirement in requirements:
        for name, minimum in requirement:
            if amounts.get(name, 0.0) < minimum:
                break
        else:
            return True
    return False

"""The Pareto front of (accuracy up, energy down): a pure function, one definition for the
sweep and the report."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """(cost, value) ``a`` dominates ``b``: no more cost, no less value, better in one."""
    return a[0] <= b[0] and a[1] >= b[1] and (a[0] < b[0] or a[1] > b[1])


def pareto_front(points: Sequence[T], *, cost: str | Callable[[T], float] = "energy_mj",
                 value: str | Callable[[T], float] = "sod_f1") -> list[T]:
    """The points no other point dominates (less or equal ``cost``, greater or equal ``value``,
    strictly better in one), cheapest first. Points with a missing (None) cost or value are
    left out; two identical points are both on the front (neither dominates the other).

    ``cost`` / ``value``: a key of each point (a mapping) or a function of it.
    """
    def getter(spec: str | Callable[[T], float]) -> Callable[[T], Any]:
        if callable(spec):
            return spec
        return lambda p: p.get(spec) if isinstance(p, Mapping) else getattr(p, spec)

    c, v = getter(cost), getter(value)
    pairs = [(p, (c(p), v(p))) for p in points]
    pairs = [(p, (float(x), float(y))) for p, (x, y) in pairs if x is not None and y is not None]
    front = [(p, xy) for p, xy in pairs
             if not any(dominates(other, xy) for _, other in pairs)]
    front.sort(key=lambda item: (item[1][0], -item[1][1]))
    return [p for p, _ in front]


def cheapest_meeting(points: Sequence[T], threshold: float, *,
                     cost: str | Callable[[T], float] = "energy_mj",
                     value: str | Callable[[T], float] = "sod_f1") -> T | None:
    """The point of least ``cost`` whose ``value`` is at least ``threshold`` (None if none);
    on a tie of cost the more accurate one. It is always on the Pareto front."""
    front = pareto_front(points, cost=cost, value=value)
    vget = value if callable(value) else (lambda p: p.get(value) if isinstance(p, Mapping)
                                          else getattr(p, value))
    meeting = [p for p in front if float(vget(p)) >= threshold]
    return meeting[0] if meeting else None

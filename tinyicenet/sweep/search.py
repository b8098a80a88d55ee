"""Greedy, sensitivity-driven search for the most accurate configuration under an FPGA budget.

Start at the cheapest configuration of the space. Each round measures the *sensitivity* of every
group: the configuration with that one group one bit width wider is costed (cheap: a model of the
FPGA design) and, if it fits the budget, evaluated (expensive: a short training and a score).
The move with the largest accuracy gain per unit of budget spent is taken (a move that gains
accuracy and costs nothing more wins outright); the search stops when no move that fits gains
accuracy, or when the evaluation allowance is spent.

The budget is a hard limit: a configuration over it is never evaluated, and one whose cost after
evaluation (the trained model's own design) is over it is recorded but never kept or chosen.
Every costed configuration is recorded with what happened to it.

The search sees configurations only as :class:`~tinyicenet.sweep.space.Configuration`; the cost
and evaluate functions are injected (:mod:`tinyicenet.sweep.cost`, :mod:`.accuracy`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tinyicenet.errors import ConfigError
from tinyicenet.sweep.space import Configuration, Space

#: budget metrics: name -> (cost key, unit, what it is)
METRICS = {
    "energy": ("energy_mj_per_scene", "mJ", "modelled FPGA energy per scene, nominal"),
    "energy_high": ("energy_mj_per_scene_high", "mJ",
                    "modelled FPGA energy per scene, high end of the range"),
    "lut": ("lut", "LUT", "modelled FPGA LUTs"),
}

#: what happened to a costed configuration
KEPT, OVER_BUDGET, OVER_AFTER, NOT_EVALUATED = ("evaluated", "over budget (not evaluated)",
                                                "over budget after training (not kept)",
                                                "not evaluated (allowance spent)")


class SearchError(ConfigError):
    """The search cannot start (e.g. nothing in the space fits the budget)."""


@dataclass(frozen=True)
class Budget:
    """``metric`` (a key of :data:`METRICS`) must stay at or below ``limit``."""

    metric: str
    limit: float

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ConfigError(f"budget metric {self.metric!r} unknown (known: "
                              f"{', '.join(METRICS)})")
        if not (isinstance(self.limit, (int, float)) and math.isfinite(self.limit)
                and self.limit > 0):
            raise ConfigError(f"budget limit {self.limit!r} must be a positive number")

    @property
    def key(self) -> str:
        return METRICS[self.metric][0]

    def spend(self, cost: Mapping[str, Any]) -> float:
        value = cost.get(self.key)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"budget: cost has no finite {self.key!r}")
        return float(value)

    def fits(self, cost: Mapping[str, Any]) -> bool:
        """Within the limit, and (where the cost says) a design that fits the device at all."""
        return cost.get("fits", True) is not False and self.spend(cost) <= self.limit

    def to_dict(self) -> dict[str, Any]:
        key, unit, what = METRICS[self.metric]
        return {"metric": self.metric, "key": key, "limit": self.limit, "unit": unit,
                "what": what}


@dataclass
class Evaluation:
    """What the evaluate function returns: the accuracy (higher is better), optionally the cost
    of the model actually evaluated (e.g. after training) and any details to record."""

    accuracy: float
    cost: Mapping[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Record:
    """One costed configuration and what the search did with it."""

    config: Configuration
    cost: Mapping[str, Any]
    status: str
    round: int
    move: str | None = None           # the group widened to reach it (None: the start)
    accuracy: float | None = None
    final_cost: Mapping[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    chosen: bool = False

    @property
    def kept(self) -> bool:
        return self.status == KEPT

    def budget_cost(self) -> Mapping[str, Any]:
        """The cost the budget judged last: the evaluated model's when there is one."""
        return self.final_cost or self.cost

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "status": self.status, "round": self.round,
                "move": self.move, "accuracy": self.accuracy, "cost": dict(self.cost),
                "final_cost": None if self.final_cost is None else dict(self.final_cost),
                "chosen": self.chosen, "details": self.details}


@dataclass
class SearchResult:
    space: Space
    budget: Budget
    records: list[Record]
    best: Record | None
    stopped: str

    @property
    def evaluated(self) -> list[Record]:
        return [r for r in self.records if r.accuracy is not None]

    @property
    def kept(self) -> list[Record]:
        return [r for r in self.records if r.kept]


Cost = Callable[[Configuration], Mapping[str, Any]]
Evaluate = Callable[[Configuration], Evaluation]
Event = Callable[[str, Record], None]


def greedy_search(space: Space, cost: Cost, evaluate: Evaluate, budget: Budget, *,
                  start: Configuration | None = None, max_evaluations: int | None = None,
                  min_gain: float = 0.0, on_record: Event | None = None) -> SearchResult:
    """Run the search (see the module doc); ``on_record(event, record)`` hears every record.

    ``max_evaluations`` caps the calls of ``evaluate`` (None: until no move gains).
    ``min_gain``: a move must raise the accuracy by more than this to be taken.
    """
    if max_evaluations is not None and max_evaluations < 1:
        raise ConfigError(f"max_evaluations {max_evaluations} must be at least 1")
    current = space.check(start or space.lowest())
    records: list[Record] = []
    costs: dict[Configuration, Mapping[str, Any]] = {}
    done: dict[Configuration, Record] = {}
    calls = 0

    def note(event: str, rec: Record) -> Record:
        records.append(rec)
        if on_record is not None:
            on_record(event, rec)
        return rec

    def cost_of(config: Configuration) -> Mapping[str, Any]:
        if config not in costs:
            costs[config] = cost(config)
        return costs[config]

    def visit(config: Configuration, round_: int, move: str | None) -> Record:
        nonlocal calls
        if config in done:
            return done[config]
        c = cost_of(config)
        if not budget.fits(c):
            rec = note("rejected", Record(config, c, OVER_BUDGET, round_, move))
        elif max_evaluations is not None and calls >= max_evaluations:
            rec = note("skipped", Record(config, c, NOT_EVALUATED, round_, move))
            return rec   # not cached: a later search with allowance could still run it
        else:
            calls += 1
            ev = evaluate(config)
            status = KEPT if ev.cost is None or budget.fits(ev.cost) else OVER_AFTER
            rec = note("evaluated", Record(config, c, status, round_, move,
                                           accuracy=float(ev.accuracy),
                                           final_cost=ev.cost, details=dict(ev.details)))
        done[config] = rec
        return rec

    first = visit(current, 0, None)
    if first.status == OVER_BUDGET:
        raise SearchError(f"sweep: the start configuration {current.key} costs "
                          f"{budget.spend(first.cost):g} {budget.to_dict()['unit']}, over the "
                          f"budget of {budget.limit:g} ({budget.metric}); nothing cheaper is "
                          "in the space")
    if not first.kept:
        raise SearchError(f"sweep: the start configuration {current.key} is "
                          f"{first.status}; raise the budget")
    here = first
    stopped = "no move that fits the budget gains accuracy"
    round_ = 0
    while True:
        round_ += 1
        best_move: tuple[float, float, Record] | None = None
        spent = budget.spend(here.budget_cost())
        neighbours = list(space.neighbours_up(here.config))
        if not neighbours:
            stopped = "every group is at its widest bit width"
            break
        for group, nxt in neighbours:
            rec = visit(nxt, round_, group)
            if not rec.kept:
                continue
            gain = rec.accuracy - here.accuracy
            if gain <= min_gain:
                continue
            extra = budget.spend(rec.budget_cost()) - spent
            score = math.inf if extra <= 0 else gain / extra
            if best_move is None or (score, gain) > best_move[:2]:
                best_move = (score, gain, rec)
        if best_move is None:
            if max_evaluations is not None and calls >= max_evaluations:
                stopped = f"evaluation allowance of {max_evaluations} spent"
            break
        here = best_move[2]
        if max_evaluations is not None and calls >= max_evaluations:
            stopped = f"evaluation allowance of {max_evaluations} spent"
            break
    best = max((r for r in records if r.kept), key=lambda r: (r.accuracy,
                                                              -budget.spend(r.budget_cost())))
    best.chosen = True
    return SearchResult(space, budget, records, best, stopped)

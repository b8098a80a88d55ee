"""The sweep's search honours its budget, and its Pareto front is right on a hand-made set."""

from __future__ import annotations

import itertools
import random

import pytest

from tinyicenet.errors import ConfigError
from tinyicenet.sweep.pareto import cheapest_meeting, dominates, pareto_front
from tinyicenet.sweep.search import (KEPT, NOT_EVALUATED, OVER_AFTER, OVER_BUDGET, Budget,
                                     Evaluation, SearchError, greedy_search)
from tinyicenet.sweep.space import Configuration, Space, parse_bits

SPACE = Space.of({"enc": (2, 3, 4, 8), "dec": (2, 4, 8), "head": (4, 8)})
# a hand-made "hardware": energy grows with bits, each group at its own price per bit
PRICE = {"enc": 3.0, "dec": 2.0, "head": 0.5}
# accuracy saturates with bits, each group with its own sensitivity
SENS = {"enc": 0.30, "dec": 0.10, "head": 0.02}


def energy(config: Configuration) -> float:
    return 10.0 + sum(PRICE[g] * b for g, b in config.bits)


def accuracy(config: Configuration) -> float:
    return sum(s * (1 - 2.0 ** (1 - config.as_dict()[g])) for g, s in SENS.items())


def cost(config: Configuration) -> dict:
    e = energy(config)
    return {"energy_mj_per_scene": e, "energy_mj_per_scene_high": 1.5 * e, "lut": 1000 * e}


class Recorder:
    def __init__(self, budget: Budget, drift: float = 0.0):
        self.budget, self.drift, self.calls = budget, drift, []

    def __call__(self, config: Configuration) -> Evaluation:
        # the search must never ask for an evaluation over the budget
        assert self.budget.fits(cost(config)), f"evaluated {config.key} over budget"
        self.calls.append(config)
        final = None
        if self.drift:
            final = {k: v * (1 + self.drift) for k, v in cost(config).items()}
        return Evaluation(accuracy(config), cost=final, details={"n": len(self.calls)})


@pytest.mark.parametrize("limit", [31.0, 40.0, 47.5, 60.0])
def test_search_never_evaluates_or_keeps_over_budget(limit):
    budget = Budget("energy", limit)
    ev = Recorder(budget)
    result = greedy_search(SPACE, cost, ev, budget)
    every = list(itertools.product(*(w for _, w in SPACE.choices)))
    fitting = [Configuration.of(dict(zip(SPACE.groups, b))) for b in every]
    fitting = [c for c in fitting if energy(c) <= limit]
    assert result.best is not None and result.best.chosen
    assert energy(result.best.config) <= limit
    for rec in result.records:
        over = energy(rec.config) > limit
        assert rec.status == (OVER_BUDGET if over else KEPT), rec.to_dict()
        assert (rec.accuracy is None) == over
    # the chosen one is the most accurate of those evaluated, and no better move was left
    assert result.best.accuracy == max(r.accuracy for r in result.kept)
    for _group, nxt in SPACE.neighbours_up(result.best.config):
        assert energy(nxt) > limit or accuracy(nxt) <= result.best.accuracy
    # greedy is not exhaustive: it visits far fewer configurations than fit
    assert len(ev.calls) == len(set(ev.calls)) <= len(fitting)
    assert result.best.accuracy <= max(accuracy(c) for c in fitting) + 1e-12


def test_search_path_by_hand():
    # start (dec 2, enc 2, head 4): 22 mJ, accuracy 0.15 + 0.05 + 0.0175.
    # round 1: enc 2->3 gains 0.075 for 3 mJ (0.025/mJ), dec 2->4 0.0375 for 4 mJ, head 4->8
    #   0.00234 for 2 mJ: enc (25 mJ).  round 2: enc 3->4 0.0375 for 3 mJ (0.0125/mJ) beats
    #   dec 2->4 (0.0094/mJ, 29 mJ): enc (28 mJ).  round 3: dec 2->4 (32 mJ) and enc 4->8
    #   (40 mJ) are over 30; head 4->8 (30 mJ) gains: taken.  round 4: nothing fits.
    budget = Budget("energy", 30.0)
    result = greedy_search(SPACE, cost, Recorder(budget), budget)
    rounds = {}
    for r in result.records:
        rounds.setdefault(r.round, []).append(r)
    assert result.records[0].config == SPACE.lowest() and result.records[0].move is None
    assert [r.move for r in rounds[1]] == ["dec", "enc", "head"]
    assert {r.move: r.status for r in rounds[2]} == {"dec": KEPT, "enc": KEPT, "head": KEPT}
    assert {r.move: r.status for r in rounds[3]} == {"dec": OVER_BUDGET, "enc": OVER_BUDGET,
                                                     "head": KEPT}
    assert {r.move: r.status for r in rounds[4]} == {"dec": OVER_BUDGET, "enc": OVER_BUDGET}
    assert result.best.config == Configuration.of({"enc": 4, "dec": 2, "head": 8})
    assert result.best.cost["energy_mj_per_scene"] == 30.0
    assert result.best.accuracy == pytest.approx(0.3 * 0.875 + 0.1 * 0.5 + 0.02 * 127 / 128)
    assert result.stopped.startswith("no move")


def test_cost_after_training_over_budget_is_never_kept():
    budget = Budget("energy", 40.0)
    ev = Recorder(budget, drift=0.10)    # the trained design costs 10 % more than estimated
    result = greedy_search(SPACE, cost, ev, budget)
    for r in result.records:
        if r.accuracy is not None and energy(r.config) * 1.1 > 40.0:
            assert r.status == OVER_AFTER and not r.chosen
    assert energy(result.best.config) * 1.1 <= 40.0


def test_evaluation_allowance_and_errors():
    budget = Budget("lut", 60_000)
    ev = Recorder(budget)
    result = greedy_search(SPACE, cost, ev, budget, max_evaluations=3)
    assert len(ev.calls) == 3
    assert result.stopped == "evaluation allowance of 3 spent"
    assert any(r.status == NOT_EVALUATED for r in result.records)
    with pytest.raises(SearchError, match="over the budget of 20"):
        greedy_search(SPACE, cost, ev, Budget("energy", 20.0))
    with pytest.raises(ConfigError, match="budget metric 'watts' unknown"):
        Budget("watts", 1.0)
    with pytest.raises(ConfigError, match="positive"):
        Budget("lut", -1)
    with pytest.raises(ConfigError, match="not in the space"):
        greedy_search(SPACE, cost, ev, budget, start=Configuration.of({"enc": 5}))
    with pytest.raises(ConfigError, match="outside 2..8"):
        Space.of({"enc": (1, 4)})
    with pytest.raises(ConfigError, match="'x' is not an integer"):
        parse_bits("2,x")
    assert parse_bits(" 8,2 ,4") == (8, 2, 4)


def test_pareto_front_hand_made():
    pts = [
        {"name": "a", "energy_mj": 10, "sod_f1": 0.70},
        {"name": "b", "energy_mj": 20, "sod_f1": 0.65},   # beaten by a
        {"name": "c", "energy_mj": 30, "sod_f1": 0.75},
        {"name": "d", "energy_mj": 5, "sod_f1": 0.50},
        {"name": "e", "energy_mj": 10, "sod_f1": 0.60},   # same energy as a, less accurate
        {"name": "f", "energy_mj": 30, "sod_f1": 0.75},   # identical to c: both stay
        {"name": "g", "energy_mj": 40, "sod_f1": 0.75},   # as accurate as c, dearer
        {"name": "h", "energy_mj": None, "sod_f1": 0.99},  # no energy: not plotted, not front
        {"name": "i", "energy_mj": 50, "sod_f1": 0.80},
    ]
    assert [p["name"] for p in pareto_front(pts)] == ["d", "a", "c", "f", "i"]
    assert cheapest_meeting(pts, 0.72)["name"] == "c"
    assert cheapest_meeting(pts, 0.70)["name"] == "a"
    assert cheapest_meeting(pts, 0.81) is None
    assert pareto_front([]) == []
    assert dominates((1, 2), (1, 1)) and not dominates((1, 1), (1, 1))


def test_pareto_front_against_brute_force():
    rng = random.Random(0)
    pts = [{"energy_mj": rng.choice(range(1, 15)), "sod_f1": rng.choice(range(10)) / 10}
           for _ in range(60)]
    front = pareto_front(pts)
    # brute force: a point is on the front iff nothing is at least as good in both and better
    expected = [p for p in pts if not any(
        q["energy_mj"] <= p["energy_mj"] and q["sod_f1"] >= p["sod_f1"]
        and (q["energy_mj"] < p["energy_mj"] or q["sod_f1"] > p["sod_f1"]) for q in pts)]
    assert sorted(map(id, front)) == sorted(map(id, expected))
    energies = [p["energy_mj"] for p in front]
    f1s = [p["sod_f1"] for p in front]
    assert energies == sorted(energies) and f1s == sorted(f1s)   # a staircase
    # attribute access and callables work too
    class P:
        def __init__(self, e, a):
            self.energy_mj, self.sod_f1 = e, a
    objs = [P(1, 0.1), P(2, 0.05), P(3, 0.3)]
    assert [o.energy_mj for o in pareto_front(objs)] == [1, 3]
    assert pareto_front(objs, cost=lambda o: -o.energy_mj, value="sod_f1")[0].energy_mj == 3


def test_progress_line_for_every_event():
    # a rejected record has no accuracy: its progress line must not need one
    from tinyicenet.sweep.run import describe
    from tinyicenet.sweep.search import Record

    config = SPACE.lowest()
    rec = Record(config, cost(config), OVER_BUDGET, 2, "enc")
    assert describe("rejected", rec, "w2a2") == "sweep: w2a2 round 2: over budget"
    assert describe("skipped", rec, "w2a2").endswith("not evaluated")
    rec.accuracy = 0.5
    assert describe("evaluated", rec, "w2a2").endswith("SOD F1 50.0")
    # the search reports every record, rejected ones included
    events = []
    budget = Budget("energy", 30.0)
    greedy_search(SPACE, cost, Recorder(budget), budget,
                  on_record=lambda e, r: events.append((e, describe(e, r, r.config.key))))
    assert {e for e, _ in events} == {"evaluated", "rejected"}

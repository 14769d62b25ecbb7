"""Checking a scenario grows in step with it: ten times the steps cost well under twenty times the
time, for a good file and for one with a problem in every step (``benchmarks/validate.py`` prints
the figures). Both sizes are measured in this one run, so a slow machine slows both alike."""

from __future__ import annotations

import time

import pytest

from callprobe.scenario import InvalidScenario, load_scenario_text
from callprobe.scenario.values import MAX_AGENTS

HEAD = "name: many\nagents:\n  alice: {}\n  bob: {}\nsteps:\n  - connect: [alice, bob]\n"

STEPS = {
    "good invites": "  - invite: {from: alice, to: bob}\n",
    "unknown agents": "  - invite: {from: alice, to: carol}\n",      # meaning errors (pass 3)
    "bad shapes": "  - invite: {from: alice}\n",                      # schema errors (pass 2)
    "order errors": "  - accept: bob\n",                               # step-order errors
}


def seconds(text: str, tries: int = 3) -> float:
    """The best of ``tries``: the least disturbed by whatever else the machine runs."""
    best = float("inf")
    for _ in range(tries):
        started = time.perf_counter()
        try:
            load_scenario_text(text)
        except InvalidScenario:
            pass
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("kind", list(STEPS))
def test_ten_times_the_steps_cost_under_twenty_times_the_time(kind: str) -> None:
    small, large = HEAD + STEPS[kind] * 300, HEAD + STEPS[kind] * 3000
    seconds(small, tries=1)  # warm up: the schema is compiled once
    ratio = seconds(large) / seconds(small)
    assert ratio < 20, f"{kind}: 10x the steps took {ratio:.1f}x the time"


def test_many_agents_in_one_connect_stay_linear() -> None:
    def agents(n: int) -> str:
        names = [f"a{i}" for i in range(n)]
        return ("name: many\nagents:\n" + "".join(f"  {a}: {{}}\n" for a in names)
                + f"steps:\n  - connect: [{', '.join(names)}]\n")

    seconds(agents(MAX_AGENTS), tries=1)
    ratio = seconds(agents(10 * MAX_AGENTS)) / seconds(agents(MAX_AGENTS))
    assert ratio < 20, f"10x the agents took {ratio:.1f}x the time"

"""How long `callprobe validate` takes as a scenario grows: the checks must stay linear.

Builds scenarios of 1,000, 5,000 and 20,000 invite steps, and the largest file
the loader accepts (just under 1 MiB), validates each in this process
(``load_scenario_text``: parse, schema, meaning, model) and prints the best of
N tries (default 3), the time per step, and the growth from one size to the
next (linear: the time grows like the steps). The goal: the largest file in
under 5 s. Usage: python benchmarks/validate.py [N]
"""

from __future__ import annotations

import sys
import time

from callprobe.scenario.loader import load_scenario_text
from callprobe.scenario.source import MAX_FILE_BYTES

HEAD = ("name: many invites\n"
        "agents:\n  {caller}: {{}}\n  {callee}: {{}}\n"
        "steps:\n  - connect: [{caller}, {callee}]\n")
STEP = "  - invite: {{from: {caller}, to: {callee}}}\n"


def invites(steps: int, caller: str = "alice", callee: str = "bob") -> str:
    """A valid scenario of ``steps`` invite steps (plus one connect)."""
    return HEAD.format(caller=caller, callee=callee) + STEP.format(caller=caller, callee=callee) * steps


def largest() -> tuple[str, int]:
    """The most invite steps that fit in the size limit, with names long enough to stay under
    the loader's value limit; (text, steps)."""
    caller, callee = "alice_caller_0", "bob_callee_00"
    head = HEAD.format(caller=caller, callee=callee)
    step = STEP.format(caller=caller, callee=callee)
    steps = (MAX_FILE_BYTES - len(head)) // len(step)
    return invites(steps, caller, callee), steps


def best_of(text: str, tries: int) -> float:
    times = []
    for _ in range(tries):
        started = time.perf_counter()
        load_scenario_text(text, "bench.yaml")
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    tries = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    cases = [(f"{n:,} invites", invites(n), n) for n in (1_000, 5_000, 20_000)]
    text, steps = largest()
    cases.append((f"largest file ({len(text.encode()):,} bytes, {steps:,} invites)", text, steps))
    print(f"{'scenario':<52} {'seconds':>8} {'us/step':>8} {'growth':>8}")
    previous: tuple[int, float] | None = None
    for label, body, n in cases:
        seconds = best_of(body, tries)
        growth = ""
        if previous is not None:
            growth = f"{seconds / previous[1] / (n / previous[0]):.2f}x"  # 1.00x: exactly linear
        print(f"{label:<52} {seconds:>8.3f} {seconds / n * 1e6:>8.1f} {growth:>8}")
        previous = (n, seconds)
    print("goal: the largest file in under 5 s; growth near 1.00x per size step (linear)")


if __name__ == "__main__":
    main()

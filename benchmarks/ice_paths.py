"""How long ICE takes on each kind of path: direct, relayed (UDP, TCP), and
through the NAT lab when it is up.

For each path it plays a short audio call N times (default 5) in one
process and prints medians: time from the offer to "connected", the time
the callee's gathering took (its answer after the offer arrived, which
includes any TURN allocation), and the selected pair. The NAT rows need
`sudo callprobe lab up` first; without the lab they are skipped and say so.

Usage: python benchmarks/ice_paths.py [N]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
from typing import Any

from callprobe.engine.runner import run_scenario
from callprobe.net import netns
from callprobe.scenario.loader import load_scenario_text

CALL = """
steps:
  - connect: [alice, bob]
  - invite: {from: alice, to: bob}
  - accept: bob
  - expect: {event: ice_connected, within: 10s}
  - hangup: alice
"""

LAB = "server: {host: 198.51.100.1, netns: cplab-public}\n"
LAB_AGENTS = "agents: {alice: {netns: cplab-caller, media: audio}, bob: {netns: cplab-callee}}\n"
AGENTS = "agents: {alice: {media: audio}, bob: {}}\n"

PATHS: dict[str, str] = {
    "loopback, host only": AGENTS,
    "loopback, relay-only TURN/UDP": "ice: {embedded_servers: [turn], relay_only: true}\n" + AGENTS,
    "loopback, relay-only TURN/TCP": "ice: {embedded_servers: [turn-tcp], relay_only: true}\n" + AGENTS,
    "NAT lab, STUN + TURN": LAB + "ice: {embedded_servers: [stun, turn]}\n" + LAB_AGENTS,
}


def _first(events: list[Any], kind: str, agent: str | None = None, **match: object) -> float | None:
    for e in events:
        if e.kind == kind and (agent is None or e.agent == agent) and \
                all(e.get(k) == v for k, v in match.items()):
            return float(e.t_ms)
    return None


async def one(body: str) -> dict[str, Any]:
    result = await run_scenario(load_scenario_text("name: bench\n" + body + CALL, file="bench.yaml"))
    if result.verdict != "pass":
        raise SystemExit(f"run failed: {[s.detail for s in result.failures] or result.aborted}")
    [call] = result.calls
    offer_in = _first(result.events, "signal_received", "bob", signal_type="offer")
    answer_out = _first(result.events, "signal_sent", "bob", signal_type="answer")
    pair = call.ice["selected"].get("alice", {})
    return {"connected_ms": call.ice["connected_ms"],
            "callee_gather_ms": (answer_out - offer_in) if offer_in and answer_out else None,
            "pair": f"{pair.get('local')}/{pair.get('protocol')} → {pair.get('remote')}"}


async def main(n: int) -> None:
    lab_up = all(netns.exists(name) for name in ("cplab-public", "cplab-caller", "cplab-callee"))
    print(f"{'path':34} {'offer→connected':>16} {'callee gather':>14}  selected pair (alice)")
    for name, body in PATHS.items():
        if "cplab-" in body and not lab_up:
            print(f"{name:34} {'(lab not up: sudo callprobe lab up)':>32}")
            continue
        runs = [await one(body) for _ in range(n)]
        connected = statistics.median(r["connected_ms"] for r in runs)
        gather = statistics.median(r["callee_gather_ms"] or 0.0 for r in runs)
        pairs = sorted({r["pair"] for r in runs})
        print(f"{name:34} {connected:13.0f} ms {gather:11.0f} ms  {', '.join(pairs)}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))

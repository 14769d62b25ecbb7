"""Wall time of `callprobe run scenarios/basic.yaml` and where it goes.

Runs the command N times (default 5) as a user would, each with --json, and
prints the median wall time and its split: start-up (interpreter, imports,
embedded gateway), login+connect, ring, ICE, media, teardown; plus
time-to-ring. Usage: python benchmarks/run_basic.py [N] [SCENARIO]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _t(events: list[dict], kind: str, **match: object) -> float | None:
    for e in events:
        if e["kind"] == kind and all(e.get(k) == v for k, v in match.items()):
            return float(e["t_ms"])
    return None


def _last(events: list[dict], kind: str, **match: object) -> float | None:
    found = [float(e["t_ms"]) for e in events if e["kind"] == kind
             and all(e.get(k) == v for k, v in match.items())]
    return max(found) if found else None


def one_run(scenario: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "callprobe", "run", scenario, "--json", str(report)],
                              cwd=ROOT, capture_output=True, text=True)
        wall = (time.perf_counter() - start) * 1000
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
            raise SystemExit(f"run failed with exit code {proc.returncode}")
        data = json.loads(report.read_text())
    ev = data["events"]
    run_ms = float(data["duration_ms"])
    opened = _last(ev, "ws_open") or 0.0
    invite = _t(ev, "invite_sent") or opened
    ring = _t(ev, "ringing") or invite
    offer = _t(ev, "signal_sent", signal_type="offer") or ring
    connected = _last(ev, "pc_state", state="connected") or offer
    first_frame = _last(ev, "media_first_frame") or connected
    finished = _t(ev, "run_finished") or run_ms
    last_step = _last(ev, "step_finished") or finished
    return {
        "wall": wall,
        "start-up (interpreter, imports)": wall - run_ms,
        "gateway start + login + connect": opened,
        "invite→ring": ring - invite,
        "ring→offer (answer notice, peer set-up)": offer - ring,
        "ICE (offer→connected)": connected - offer,
        "media (connected→last first frame)": first_frame - connected,
        "rest of scenario (media wait, hangup)": last_step - first_frame,
        "teardown": finished - last_step,
        "time_to_ring": float(data["calls"][0]["time_to_ring_ms"] or 0.0),
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    scenario = sys.argv[2] if len(sys.argv) > 2 else "scenarios/basic.yaml"
    runs = [one_run(scenario) for _ in range(n)]
    print(f"callprobe run {scenario}: {n} runs, medians")
    for key in runs[0]:
        values = [r[key] for r in runs]
        unit = "ms"
        print(f"  {key:42s} {statistics.median(values):9.1f} {unit}   (min {min(values):.1f}, max {max(values):.1f})")


if __name__ == "__main__":
    main()

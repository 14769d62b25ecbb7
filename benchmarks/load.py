"""Load figures on this machine, with the embedded KKIM gateway in its own process (docs/load.md#benchmarks).

Usage: ``python benchmarks/load.py [agents] [rate] [audio] [video] [--quick]``
(all four by default). Each part prints one line per load it tries, then a
summary:

- ``agents``: signaling only, pairs that connect, call and hold the call
  ``--hold`` long enough for two heartbeats each: the peak of connected
  agents, heartbeats answered and missed, calls passed;
- ``rate``: signaling only, new calls per second sustained (60 s): time-to-ring
  p99, notices lost; then the highest rate (tried upwards, 20 s each, then
  60 s to confirm) that keeps p99 under 50 ms with no lost notice and every
  call passing;
- ``audio`` / ``video``: concurrent calls with pre-encoded media held 20 s,
  frames delivered both ways (counted from RTP, not decoded), tried upwards
  while at least 95 % are delivered and every call passes;
- for every run: the gateway's CPU seconds against the workers'.

The machine may be shared: the load average is printed with each line.
``--quick`` shortens every run (for a smoke test of the script itself).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import Any

from callprobe.analysis.load.report import LoadReport
from callprobe.engine.load.controller import LoadController, default_workers
from callprobe.engine.load.plan import LoadOptions
from callprobe.scenario.loader import load_scenario

#: signaling figures: one HTTP login per agent, ring, answer, a 1 s hold, hang-up (every notice expected)
SIGNALING = "benchmarks/signaling-call.yaml"
#: media figures: the reference video call (audio, video), its wait step set by --hold
MEDIA = "scenarios/basic.yaml"
QUICK = "--quick" in sys.argv


def run(scenario: str = SIGNALING, **options: Any) -> LoadReport:
    base = LoadOptions(workers=default_workers(), grace_s=30.0, keep_failed=3, keep_good=0)
    opts = dataclasses.replace(base, **options)
    return LoadController(load_scenario(scenario), opts, []).run()


def line(label: str, report: LoadReport, **extra: Any) -> dict[str, Any]:
    t = report.totals
    ring = t.figure("ring")
    cpu_workers = sum(float(w.get("cpu_s") or 0.0) for w in report.workers)
    cpu_server = float(report.server.get("cpu_s") or 0.0)
    seconds = max(report.duration_s, 1e-9)
    row = {
        "label": label, "calls": t.completed, "passed": t.passed, "failed": t.failed, "dropped": t.dropped,
        "ring_p50": ring.percentile_ms(50), "ring_p99": ring.percentile_ms(99),
        "notices_lost": sum(t.notices_lost.values()), "delivered": t.delivered(),
        "poor_legs": t.poor_legs, "legs": t.legs, "peak_calls": report.peak_active_calls,
        "peak_agents": report.peak_active_agents, "hb": t.figure("heartbeat").count,
        "hb_missed": t.heartbeats_missed, "cpu_workers": cpu_workers, "cpu_server": cpu_server,
        "cores_workers": cpu_workers / seconds, "cores_server": cpu_server / seconds, **extra,
    }
    delivered = "-" if row["delivered"] is None else f"{row['delivered'] * 100:.2f}%"
    p99 = "-" if row["ring_p99"] is None else f"{row['ring_p99']:.1f}"
    print(f"  {label:28s} calls {t.completed:6d} passed {t.passed:6d} failed {t.failed:4d} dropped {t.dropped:4d} "
          f"| ring p50 {row['ring_p50'] or 0:.1f} p99 {p99} ms | lost notices {row['notices_lost']} "
          f"| delivered {delivered} ({row['poor_legs']}/{row['legs']} legs <95%) "
          f"| peak {row['peak_calls']} calls {row['peak_agents']} agents | heartbeats {row['hb']} missed "
          f"{row['hb_missed']} | CPU workers {cpu_workers:.1f}s ({row['cores_workers']:.2f} cores) gateway "
          f"{cpu_server:.1f}s ({row['cores_server']:.2f} cores) | load avg {os.getloadavg()[0]:.1f}", flush=True)
    return row


def agents() -> dict[str, Any]:
    pairs = 100 if QUICK else 2500
    ramp, hold = (5.0, 5.0) if QUICK else (150.0, 180.0)
    print(f"agents holding heartbeats: {pairs} pairs started over {ramp:g} s, signaling only, calls held {hold:g} s "
          "(every agent connected at once at the end of the ramp)")
    report = run(pairs=pairs, media="none", hold_s=hold, ramp_s=ramp, grace_s=120.0)
    return line(f"{pairs * 2} agents", report)


def rate_ok(row: dict[str, Any]) -> bool:
    return (row["failed"] == 0 and row["dropped"] == 0 and row["notices_lost"] == 0
            and row["ring_p99"] is not None and row["ring_p99"] < 50.0)


def rate() -> dict[str, Any]:
    seconds = 5.0 if QUICK else 60.0
    print(f"call setups per second, signaling only, sustained {seconds:g} s (calls held 1 s)")
    target = line("100/s", run(rate=100.0, duration_s=seconds, media="none", ramp_s=5.0))
    print("highest rate with ring p99 < 50 ms, no lost notice, every call passing (20 s each)")
    best = None
    for r in ([10.0, 20.0] if QUICK else [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 80.0, 100.0, 125.0, 150.0]):
        row = line(f"{r:g}/s for 20 s", run(rate=r, duration_s=5.0 if QUICK else 20.0, media="none", ramp_s=2.0))
        if not rate_ok(row):
            break
        best = r
    confirmed = None
    if best is not None and not QUICK:
        confirmed = line(f"{best:g}/s for 60 s", run(rate=best, duration_s=60.0, media="none", ramp_s=5.0))
    return {"target": target, "best": best, "confirmed": confirmed}


def media_ok(row: dict[str, Any]) -> bool:
    return row["failed"] == 0 and row["delivered"] is not None and row["delivered"] >= 0.95 and row["poor_legs"] == 0


def media(kind: str, start: int, step: int) -> dict[str, Any]:
    hold = 5.0 if QUICK else 20.0
    print(f"concurrent {kind} calls held {hold:g} s, pre-encoded media, frames counted from RTP")
    best, rows = None, []
    pairs = 4 if QUICK else start
    while True:
        row = line(f"{pairs} {kind} calls", run(MEDIA, pairs=pairs, media=kind, hold_s=hold,
                                                ramp_s=min(10.0, pairs / 6)))
        rows.append(row)
        if not media_ok(row) or QUICK:
            if media_ok(row):
                best = pairs
            break
        best = pairs
        pairs += step
    return {"best": best, "rows": rows, "first": rows[0]}


def main() -> None:
    parts = [a for a in sys.argv[1:] if not a.startswith("--")] or ["agents", "rate", "audio", "video"]
    print(f"{os.cpu_count()} cores, {default_workers()} workers, load average {os.getloadavg()[0]:.2f}")
    started = time.monotonic()
    results: dict[str, Any] = {}
    if "agents" in parts:
        results["agents"] = agents()
    if "rate" in parts:
        results["rate"] = rate()
    if "audio" in parts:
        results["audio"] = media("audio", 60, 20)
    if "video" in parts:
        results["video"] = media("video", 30, 10)
    print(f"\nsummary ({time.monotonic() - started:.0f} s):")
    if "agents" in results:
        a = results["agents"]
        print(f"  agents: peak {a['peak_agents']} connected, {a['hb']} heartbeats answered, {a['hb_missed']} missed, "
              f"{a['passed']}/{a['calls']} calls passed")
    if "rate" in results:
        r = results["rate"]
        t = r["target"]
        print(f"  100 setups/s: ring p99 {t['ring_p99']} ms, notices lost {t['notices_lost']}, "
              f"{t['passed']}/{t['calls']} passed; highest rate meeting the bar: {r['best']}/s"
              + (f" (60 s: ring p99 {r['confirmed']['ring_p99']:.1f} ms, lost {r['confirmed']['notices_lost']})"
                 if r["confirmed"] else ""))
    for kind in ("audio", "video"):
        if kind in results:
            m = results[kind]
            print(f"  {kind}: highest count with >= 95 % delivered and every call passing: {m['best']}")
    print("  CPU (gateway vs workers), per run above")


if __name__ == "__main__":
    main()

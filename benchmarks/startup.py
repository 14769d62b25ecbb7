"""Start-up of the CLI: `callprobe --help`, and how soon `callprobe run` places its first login.

Prints medians over N tries (default 7) of:

- ``callprobe --help``: wall time, process start to exit;
- ``callprobe run scenarios/basic.yaml``: process start to the first login
  (the first outgoing TCP connection the process makes, seen by an audit
  hook: the login's HTTP request to the auth API), and the whole run's wall
  time;
- the CPU time the main thread had used by its first login, which a busy
  machine inflates far less than wall time (the clips are encoded in another
  thread meanwhile);
- which of aiortc, av, numpy, aiohttp each command had imported by then.

Each is measured twice: as the process environment has it (with
``PYTHONDONTWRITEBYTECODE`` set, nothing of callprobe's is cached and every
module is compiled at each start) and with compiled modules cached, as an
installed callprobe runs. Usage: ``python benchmarks/startup.py [N] [--source DIR]``;
``--source`` measures another checkout of callprobe (e.g. ``git archive`` of
an older commit unpacked in DIR), so two versions can be compared on the same
machine at the same time.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("aiortc", "av", "numpy", "aiohttp")

#: Runs inside the measured process: notes the first outgoing connection and
#: the heavy modules loaded by then, then plays the command like the console script.
PROBE = r"""
import json, os, sys, time
HEAVY = __HEAVY__
_first = []
def _hook(event, args):
    if event == "socket.connect" and not _first:
        _first.append(time.time())
        heavy = [m for m in HEAVY if m in sys.modules]
        probe = {"connect": _first[0], "cpu": time.thread_time(), "heavy": heavy}
        os.write(2, ("\nSTARTUP-PROBE " + json.dumps(probe) + "\n").encode())
sys.addaudithook(_hook)
def _at_exit():
    heavy = [m for m in HEAVY if m in sys.modules]
    os.write(2, ("\nSTARTUP-EXIT " + json.dumps({"heavy": heavy}) + "\n").encode())
import atexit; atexit.register(_at_exit)
sys.argv = ["callprobe", *sys.argv[1:]]
from callprobe.cli import main
main()
""".replace("__HEAVY__", repr(HEAVY))


def _markers(stderr: str, tag: str) -> dict[str, object]:
    for line in stderr.splitlines():
        if line.startswith(tag + " "):
            return dict(json.loads(line[len(tag) + 1:]))
    return {}


SOURCE = ROOT


def one(args: list[str], env: dict[str, str]) -> dict[str, object]:
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=SOURCE, capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(SOURCE)})
    wall = time.time() - start
    if proc.returncode not in (0,):
        print(proc.stdout[-1500:], proc.stderr[-1500:], file=sys.stderr)
        raise SystemExit(f"{' '.join(args)} exited {proc.returncode}")
    first = _markers(proc.stderr, "STARTUP-PROBE")
    out: dict[str, object] = {"wall_s": wall, "heavy_at_exit": _markers(proc.stderr, "STARTUP-EXIT").get("heavy")}
    if first:
        out["first_login_s"] = float(first["connect"]) - start  # type: ignore[arg-type]
        out["first_login_cpu_s"] = float(first["cpu"])  # type: ignore[arg-type]
        out["heavy_at_login"] = first["heavy"]
    return out


def measure(n: int, cached: bool) -> None:
    env = dict(os.environ)
    if cached:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        one(["--help"], env)  # write the caches once
        one(["run", "scenarios/basic.yaml"], env)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    label = "modules cached" if cached else "nothing cached (PYTHONDONTWRITEBYTECODE=1)"
    helps = [one(["--help"], env) for _ in range(n)]
    runs = [one(["run", "scenarios/basic.yaml"], env) for _ in range(n)]

    def med(rows: list[dict[str, object]], key: str) -> str:
        values = [float(r[key]) for r in rows if key in r]  # type: ignore[arg-type]
        return f"{statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f})"

    print(f"{label}, {n} tries, medians:")
    print(f"  callprobe --help                    {med(helps, 'wall_s')}   heavy imported: {helps[0]['heavy_at_exit']}")
    print(f"  run basic.yaml: start→first login   {med(runs, 'first_login_s')}   "
          f"heavy imported by then: {runs[0].get('heavy_at_login')}")
    print(f"  run basic.yaml: CPU to first login  {med(runs, 'first_login_cpu_s')}   (main thread's CPU time)")
    print(f"  run basic.yaml: whole run           {med(runs, 'wall_s')}")


def main() -> None:
    global SOURCE
    args = sys.argv[1:]
    if "--source" in args:
        at = args.index("--source")
        SOURCE = Path(args[at + 1]).resolve()
        del args[at:at + 2]
    n = int(args[0]) if args else 7
    print(f"{SOURCE}: load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    measure(n, cached=False)
    measure(n, cached=True)


if __name__ == "__main__":
    main()

"""benchmarks/socketio.py runs end to end on a small load: counts only, never a time (docs: the
figures come from a run of the script, not from a test)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.paths import ROOT


def test_the_benchmark_runs_and_counts_every_call_and_message() -> None:
    proc = subprocess.run([sys.executable, "benchmarks/socketio.py", "--calls", "5", "--users", "4", "--rate", "20",
                           "--duration", "1"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert re.search(r"calls through the socketio driver: 5 in ", out), out
    assert "time to ring ms:" in out and "accept notice ms:" in out
    assert "delivered 20/20 (and 20 sender echoes)" in out, out
    assert "push latency ms:" in out and "Traceback" not in proc.stderr

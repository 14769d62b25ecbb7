"""Load workers as Ray actors, on a Ray instance bound to 127.0.0.1.

``ray.init`` takes several seconds here, so Ray is started twice in this
module only: once by a ``callprobe load --ray auto`` process that is then
killed (every Ray process must go with it), and once in this process for a
run whose workers are actors. Skipped only when the ``ray`` extra is not
installed; CI installs it (``.ci/run``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# never report usage outside, and keep every Ray server on loopback (docs/load.md#across-machines-with-ray)
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

try:
    import ray
except ImportError as exc:  # a test that cannot run proves nothing: say what to install
    raise ImportError("the ray extra is not installed: pip install -e '.[ray]' (.ci/run installs it)") from exc

from callprobe.engine.load.controller import LoadController
from callprobe.engine.load.plan import LoadOptions
from callprobe.scenario.loader import load_scenario
from tests.paths import ROOT, SCENARIOS
from tests.processes import descendants, running

pytestmark = pytest.mark.timeout(240)


def test_every_ray_process_goes_when_the_load_command_is_killed(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "callprobe", "load", str(SCENARIOS / "basic.yaml"), "--ray", "auto", "--pairs", "2",
         "--workers", "2", "--media", "none", "--hold", "120s"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: set[int] = set()
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 150
        for line in proc.stdout:
            seen |= descendants(proc.pid)
            if "running]" in line and "2 calls" in line:
                break
            assert time.monotonic() < deadline, "the load never got going"
        seen |= descendants(proc.pid)
        assert len(seen) > 4, "Ray's processes are the command's descendants"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(running(p) for p in seen):
        time.sleep(0.5)
    left = {p: Path(f"/proc/{p}/cmdline").read_bytes()[:80] for p in seen if running(p)}
    assert not left, f"still running after the command was killed: {left}"


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    temp = tempfile.mkdtemp(prefix="cpray-t-", dir="/tmp")
    ray.init(include_dashboard=False, num_cpus=2, log_to_driver=False, configure_logging=False, _temp_dir=temp)
    before = descendants(os.getpid())
    try:
        yield
    finally:
        ray.shutdown()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(running(p) for p in before):
            time.sleep(0.5)
        for pid in before:  # the ones ray.shutdown left behind: ours, by id
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


def test_ray_listens_on_loopback_only(local_ray: None) -> None:
    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert [n["NodeManagerAddress"] for n in nodes] == ["127.0.0.1"]


def test_workers_as_ray_actors_give_the_same_report(local_ray: None) -> None:
    options = LoadOptions(pairs=2, media="none", workers=0, ray="auto")
    report = LoadController(load_scenario(SCENARIOS / "basic.yaml"), options, []).run()
    t = report.totals
    assert (t.started, t.completed, t.passed) == (2, 2, 2), (report.errors, dict(t.failures))
    assert report.options["place"] == "ray" and report.options["workers"] == 2
    assert {w["place"] for w in report.workers} == {"ray"} and len(report.workers) == 2
    assert all(w["pid"] != os.getpid() for w in report.workers)
    assert t.figure("ring").count == 2

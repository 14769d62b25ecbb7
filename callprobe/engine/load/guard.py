"""Stops the processes of a Ray instance callprobe started, whatever ends callprobe.

``ray.init`` starts a head node whose processes (GCS, raylet, agents,
workers) outlive a killed driver: its agents are not tied to it. Before
starting Ray, the controller starts this guard in a session of its own,
holding the write end of the guard's standard input. The guard notes, four
times a second, every descendant of the controller; when its standard input
closes (the controller ended, however it ended) it sends SIGKILL to each
noted process still running (checked by start time, so a reused process id
is never hit), and to any process whose command line names the Ray
instance's own temporary folder, then removes that folder.

Run as ``python -m callprobe.engine.load.guard PID TEMP_DIR``.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil

POLL_S = 0.25


def start_guard(temp_dir: str) -> subprocess.Popen[bytes]:
    """Start the guard of this process and the Ray instance that will use ``temp_dir``."""
    return subprocess.Popen([sys.executable, "-m", "callprobe.engine.load.guard", str(os.getpid()), temp_dir],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop_guard(guard: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """Tell the guard the run is over (it then sweeps) and wait for it."""
    if guard.stdin is not None:
        guard.stdin.close()
    try:
        guard.wait(timeout_s)
    except subprocess.TimeoutExpired:
        guard.kill()
        guard.wait()


def _start_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _descendants(root: int) -> set[int]:
    try:
        return {child.pid for child in psutil.Process(root).children(recursive=True)}
    except psutil.Error:
        return set()


def _naming(temp_dir: str) -> set[int]:
    """Processes whose command line names ``temp_dir`` (this Ray instance's own folder)."""
    found = set()
    for proc in psutil.process_iter(["cmdline"]):
        if proc.pid != os.getpid() and any(temp_dir in arg for arg in proc.info["cmdline"] or ()):
            found.add(proc.pid)
    return found


def guard(root: int, temp_dir: str) -> None:
    noted: dict[int, float | None] = {}
    while True:
        for pid in _descendants(root):
            if pid != os.getpid() and pid not in noted:
                noted[pid] = _start_time(pid)
        ready, _, _ = select.select([sys.stdin], [], [], POLL_S)
        if ready and not os.read(sys.stdin.fileno(), 4096):
            break
    for pid in _descendants(root):
        noted.setdefault(pid, _start_time(pid))
    for pid in _naming(temp_dir):
        noted.setdefault(pid, _start_time(pid))
    noted.pop(root, None)
    noted.pop(os.getpid(), None)
    for pid, started in noted.items():
        if started is not None and _start_time(pid) == started:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    shutil.rmtree(Path(temp_dir), ignore_errors=True)


if __name__ == "__main__":
    guard(int(sys.argv[1]), sys.argv[2])

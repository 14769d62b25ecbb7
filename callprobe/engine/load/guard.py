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


def _start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        out.setdefault(ppid, []).append(int(entry))
    return out


def _descendants(root: int) -> set[int]:
    tree = _children()
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in tree.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _naming(temp_dir: str) -> set[int]:
    """Processes whose command line names ``temp_dir`` (this Ray instance's own folder)."""
    found = set()
    marker = temp_dir.encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker in f.read():
                        found.add(int(entry))
            except OSError:
                continue
    return found


def guard(root: int, temp_dir: str) -> None:
    noted: dict[int, int | None] = {}
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

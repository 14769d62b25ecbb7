"""What every process of a load run does first, and how the controller reads their CPU time.

Worker and server processes die with the controller, whatever kills it: the
kernel sends them SIGKILL when their parent goes (``PR_SET_PDEATHSIG``), and
they ignore SIGINT, so a Ctrl-C reaches the controller alone, which stops
them in order. Each raises its open-file limit to the hard limit: an agent
holds a WebSocket, and a call's legs hold UDP sockets.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import resource
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int | None = None) -> None:
    """Ask the kernel to kill this process when its parent dies (Linux; elsewhere nothing)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:  # the parent died before the request took hold
        os._exit(1)


def raise_fd_limit() -> int:
    """Raise the soft limit of open files to the hard one; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return int(soft)


def quiet_logging() -> None:
    """Nothing a worker or server logs reaches the terminal: the controller owns it (the report says why)."""
    root = logging.getLogger()
    root.handlers[:] = [logging.NullHandler()]
    root.setLevel(logging.ERROR)


def ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def setup_child(parent: int | None) -> None:
    """Everything a worker or server process does before its work."""
    die_with_parent(parent)
    ignore_interrupts()
    raise_fd_limit()
    quiet_logging()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (all its threads); None when gone."""
    import psutil

    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)


def event_loop_kind() -> str:
    """``uvloop`` when it is installed (10-20 % less CPU per call: docs/aiortc-notes.md#one-event-loop-per-core)
    and not turned off with ``CALLPROBE_UVLOOP=0``; else ``asyncio``."""
    if os.environ.get("CALLPROBE_UVLOOP", "1") == "0":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on a new event loop of ``event_loop_kind()``."""
    if event_loop_kind() == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)
    return asyncio.run(main)

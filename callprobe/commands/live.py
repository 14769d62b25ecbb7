"""What ``run`` and ``diagnose`` share around the engine: where output goes, signals, streams.

* **Output.** The human report and the live progress go to stdout, unless
  stdout carries machine output (``--json -`` or ``--events -``): then to
  stderr. Both at once is refused (they would share stdout).
* **Signals.** Ctrl-C (SIGINT) and SIGTERM stop the run the same way: the
  engine's own teardown runs (calls released, servers stopped), the caller
  builds a result from what was seen and writes every report, and the
  process exits 130 or 143 (``errors.ExitCode``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from callprobe.errors import ConfigError, ExitCode

T = TypeVar("T")

#: The words a stopped run reports, and its exit code, by the signal that stopped it.
STOPPED_BY: dict[str, ExitCode] = {"Ctrl-C": ExitCode.INTERRUPTED, "SIGTERM": ExitCode.TERMINATED}


def to_stdout(path: Path | None) -> bool:
    return path is not None and str(path) == "-"


def check_stdout(json_path: Path | None, events_path: Path | None) -> None:
    """``--json -`` and ``--events -`` cannot share stdout."""
    if to_stdout(json_path) and to_stdout(events_path):
        raise ConfigError("--json - and --events - would both write to stdout",
                          hint="send one of them to a file (--events events.ndjson)")


def human_console(*machine: Path | None) -> Console:
    """Where the report and the progress go: stdout, or stderr when stdout carries machine output."""
    return Console(stderr=True) if any(to_stdout(p) for p in machine) else Console()


def run_until_signal(main: Coroutine[Any, Any, T]) -> tuple[T | None, str]:
    """``asyncio.run(main)``; on Ctrl-C or SIGTERM ``(None, "Ctrl-C"|"SIGTERM")``.

    Either signal cancels ``main``, so its ``finally`` blocks (teardown) run
    before this returns; the caller then reports what was seen.
    """
    got: list[str] = []

    async def guarded() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()

        def terminate() -> None:
            got.append("SIGTERM")
            if task is not None:
                task.cancel()

        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, terminate)
        try:
            return await main
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGTERM)

    try:
        return asyncio.run(guarded()), ""
    except KeyboardInterrupt:
        return None, "Ctrl-C"
    except asyncio.CancelledError:
        if got:
            return None, "SIGTERM"
        raise

"""What ``run`` and ``diagnose`` share around the engine: signals.

(Where output goes is ``checks.stdout_output``: the human report and the live
progress go to stderr when an output such as ``--json -`` takes stdout.)

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
from typing import Any, TypeVar

from callprobe.errors import ExitCode

T = TypeVar("T")

#: The words a stopped run reports, and its exit code, by the signal that stopped it.
STOPPED_BY: dict[str, ExitCode] = {"Ctrl-C": ExitCode.INTERRUPTED, "SIGTERM": ExitCode.TERMINATED}


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

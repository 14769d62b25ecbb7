"""``--events PATH`` / ``--events -``: the timeline as NDJSON while the run goes on.

A timeline listener (``Timeline.subscribe``): one ``Event.to_json()`` per
line, flushed at once, so ``jq`` or a log shipper sees each event as it
happens. The lines are the events of the JSON reports (``docs/reports.md``,
``docs/schemas/event.schema.json``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO

from callprobe.timeline.events import Event


class EventStream:
    """Writes each event it is given as one JSON line; ``close()`` when the run is over."""

    def __init__(self, target: Path | str) -> None:
        self._own = str(target) != "-"
        self._file: IO[str] = open(target, "w", encoding="utf-8") if self._own else sys.stdout  # noqa: SIM115
        self.written = 0

    def __call__(self, e: Event) -> None:
        if self._file.closed:
            return
        self._file.write(json.dumps(e.to_json(), default=str, ensure_ascii=False) + "\n")
        self._file.flush()
        self.written += 1

    def close(self) -> None:
        if self._own and not self._file.closed:
            self._file.close()

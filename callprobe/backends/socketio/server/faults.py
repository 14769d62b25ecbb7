"""The active Socket.IO faults as flags the server checks (names: ``callprobe.backends.socketio.faults``).

Each flag reproduces one failure exactly and nothing else; the healthy path is
the code path with the flag off (``docs/backends/socketio.md#faults``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from callprobe.backends.faults import parse_fault as _parse
from callprobe.backends.socketio.faults import FAULTS

FAMILY = "socketio"


def parse_fault(text: str) -> tuple[str, str]:
    """``NAME[=VALUE]`` to a checked Socket.IO ``(name, value)`` pair; raise ``ConfigError``."""
    from callprobe.backends.registry import fault_tables

    return _parse(text, FAULTS, FAMILY, fault_tables())


@dataclass(frozen=True)
class Faults:
    """The switched-on faults; attribute names are the fault names with ``_`` for ``-``."""

    target_id_type: bool = False
    history_without_extra_data: bool = False
    call_event_only_message: bool = False
    response_not_relayed: bool = False
    signal_drops_candidates: bool = False
    accept_any_token: bool = False

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Faults:
        """Build from ``ChatServerSettings.faults``; every pair is re-checked (``ConfigError``)."""
        names = {parse_fault(f"{name}={value}" if value else name)[0] for name, value in pairs}
        return cls(**{name.replace("-", "_"): True for name in names})

    def active(self) -> list[str]:
        """The names of the faults switched on, in table order, for the start line."""
        return [f.name.replace("_", "-") for f in fields(self) if getattr(self, f.name)]

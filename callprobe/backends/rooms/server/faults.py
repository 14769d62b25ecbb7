"""The active call-room faults as flags the server checks (names: ``callprobe.backends.rooms.faults``).

What each one changes is in ``docs/backends/rooms.md#faults``; every place
that checks a flag logs at INFO that the fault acted, so a test or a user can
see the misbehaviour was deliberate.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from callprobe.backends.faults import parse_fault as _parse
from callprobe.backends.rooms.faults import FAULTS


def parse_fault(text: str) -> tuple[str, str]:
    """``NAME`` to a checked call-room ``(name, value)`` pair; raise ``ConfigError``."""
    from callprobe.backends.registry import fault_tables

    return _parse(text, FAULTS, "rooms", fault_tables())


@dataclass(frozen=True)
class Faults:
    """One flag per fault of ``FAULTS`` (all of them take no value)."""

    handshake_crash: bool = False
    trust_user_id: bool = False
    default_identity: bool = False
    join_lost_callee_first: bool = False
    accept_not_relayed: bool = False
    relay_drops_candidates: bool = False

    @classmethod
    def from_pairs(cls, pairs: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> Faults:
        """Build from ``RoomServerSettings.faults``; every pair is re-checked (``ConfigError``)."""
        names = {parse_fault(f"{name}={value}" if value else name)[0] for name, value in pairs}
        return cls(**{name.replace("-", "_"): True for name in names})

    def active(self) -> list[str]:
        """Names of the faults switched on, in table order, for the banner and the start line."""
        return [f.name.replace("_", "-") for f in fields(self) if getattr(self, f.name)]

"""The active KKIM faults as flags the gateway checks (names: ``callprobe.backends.kkim.faults``)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from callprobe.backends.faults import parse_fault as _parse
from callprobe.backends.kkim.faults import FAULTS

__all__ = ["FAULTS", "Faults", "parse_fault"]  # FAULTS too: the scenario loader reads it here


def parse_fault(text: str) -> tuple[str, str]:
    """``NAME[=VALUE]`` to a checked KKIM ``(name, value)`` pair; raise ``ConfigError``."""
    from callprobe.backends.registry import fault_tables

    return _parse(text, FAULTS, "kkim", fault_tables())


@dataclass(frozen=True)
class Faults:
    """The active faults, as flags the gateway checks."""

    invite_not_pushed: bool = False
    history_without_payload: bool = False
    answer_not_relayed: bool = False
    handshake_crash: bool = False
    accept_any_token: bool = False
    no_heartbeat_reply: bool = False
    drop_custom: str = ""           # "", "all" or "candidates"
    push_delay_ms: int = 0
    kick_callee: bool = False
    stale_call_state: bool = False
    room_id_mismatch: bool = False
    drop_all_pushes: bool = False

    @classmethod
    def from_pairs(cls, pairs: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> Faults:
        """Build from ``GatewaySettings.faults``; every pair is re-checked."""
        values: dict[str, object] = {}
        for raw_name, raw_value in pairs:
            name, value = parse_fault(f"{raw_name}={raw_value}" if raw_value else raw_name)
            attr = name.replace("-", "_")
            if name == "push-delay":
                values["push_delay_ms"] = int(value)
            elif name == "drop-custom":
                values["drop_custom"] = value
            else:
                values[attr] = True
        return cls(**values)  # type: ignore[arg-type]

    def active(self) -> list[str]:
        """Names (with values) of the faults switched on, for the start banner."""
        out = []
        for f in fields(self):
            value = getattr(self, f.name)
            if not value:
                continue
            if f.name == "push_delay_ms":
                out.append(f"push-delay={value}")
            elif f.name == "drop_custom":
                out.append(f"drop-custom={value}")
            else:
                out.append(f.name.replace("_", "-"))
        return out

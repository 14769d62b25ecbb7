"""The active KKIM faults as flags the gateway checks (names: ``callprobe.backends.kkim.faults``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from callprobe.backends.fault_flags import FaultFlags
from callprobe.backends.kkim.faults import FAULTS

__all__ = ["FAULTS", "Faults", "parse_fault"]  # FAULTS too: the scenario loader reads it here


@dataclass(frozen=True)
class Faults(FaultFlags):
    """The active faults, as flags the gateway checks."""

    FAMILY = "kkim"
    TABLE = FAULTS

    invite_not_pushed: bool = False
    history_without_payload: bool = False
    answer_not_relayed: bool = False
    handshake_crash: bool = False
    accept_any_token: bool = False
    no_heartbeat_reply: bool = False
    drop_custom: str = ""           # "", "all" or "candidates"
    push_delay_ms: int = field(default=0, metadata={"fault": "push-delay"})
    kick_callee: bool = False
    stale_call_state: bool = False
    room_id_mismatch: bool = False
    drop_all_pushes: bool = False
    conversation_by_id: bool = False
    relay_forged_notices: bool = False


parse_fault = Faults.parse

"""The active call-room faults as flags the server checks (names: ``callprobe.backends.rooms.faults``).

What each one changes is in ``docs/backends/rooms.md#faults``; every place
that checks a flag logs at INFO that the fault acted, so a test or a user can
see the misbehaviour was deliberate.
"""

from __future__ import annotations

from dataclasses import dataclass

from callprobe.backends.fault_flags import FaultFlags
from callprobe.backends.rooms.faults import FAULTS


@dataclass(frozen=True)
class Faults(FaultFlags):
    """One flag per fault of ``FAULTS`` (all of them take no value)."""

    FAMILY = "rooms"
    TABLE = FAULTS

    handshake_crash: bool = False
    trust_user_id: bool = False
    default_identity: bool = False
    join_lost_callee_first: bool = False
    accept_not_relayed: bool = False
    relay_drops_candidates: bool = False


parse_fault = Faults.parse

"""The active Socket.IO faults as flags the server checks (names: ``callprobe.backends.socketio.faults``).

Each flag reproduces one failure exactly and nothing else; the healthy path is
the code path with the flag off (``docs/backends/socketio.md#faults``).
"""

from __future__ import annotations

from dataclasses import dataclass

from callprobe.backends.fault_flags import FaultFlags
from callprobe.backends.socketio.faults import FAULTS


@dataclass(frozen=True)
class Faults(FaultFlags):
    """The switched-on faults; attribute names are the fault names with ``_`` for ``-``."""

    FAMILY = "socketio"
    TABLE = FAULTS

    target_id_type: bool = False
    history_without_extra_data: bool = False
    call_event_only_message: bool = False
    response_not_relayed: bool = False
    signal_drops_candidates: bool = False
    accept_any_token: bool = False


parse_fault = Faults.parse

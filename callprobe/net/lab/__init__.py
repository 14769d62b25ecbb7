"""The NAT lab: network namespaces that put a caller and a callee behind NATs.

``topology`` is the pure plan (names, addresses, commands), ``status`` judges
what exists against it, ``builder`` runs the commands (root, Linux only).
"""

from callprobe.net.lab.builder import (
    STATE_FILE,
    LabCommandFailed,
    LabError,
    check_prerequisites,
    down,
    require_up,
    status,
    up,
)
from callprobe.net.lab.status import LabStatus
from callprobe.net.lab.topology import (
    HOSTS,
    NAMESPACES,
    PUBLIC_ADDRESS,
    LabHost,
    LabPlan,
    NatMode,
    namespace_of,
)

__all__ = [
    "HOSTS", "NAMESPACES", "PUBLIC_ADDRESS", "STATE_FILE", "LabCommandFailed", "LabError", "LabHost",
    "LabPlan", "LabStatus", "NatMode", "check_prerequisites", "down", "namespace_of", "require_up",
    "status", "up",
]

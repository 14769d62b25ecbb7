"""The embedded call-room server: a faithful reference of the Go/Gin call-room service.

It behaves as ``docs/backends/rooms.md`` describes, and its faults
(``callprobe.backends.rooms.faults``) reproduce, on purpose, the failures seen
with that service in the field. Everything it logs goes to the
``callprobe.server.rooms`` logger (``LOGGER_NAME``): one WARNING line per
refused input, INFO for connections and call transitions; an embedder keeps
it off the terminal by setting that one logger's level.
"""

import dataclasses
from typing import Any

from callprobe.backends.base import EmbeddedConfig
from callprobe.backends.rooms.server.faults import Faults, parse_fault
from callprobe.backends.rooms.server.log import LOGGER_NAME
from callprobe.backends.rooms.server.server import EmbeddedRoomServer, create_server
from callprobe.settings import RoomServerSettings

#: Limits a load run lifts (``EmbeddedConfig.load``): one machine's agents open far more sockets than
#: one client address would.
LOAD_LIMITS: dict[str, Any] = {"max_connections": 100_000}


def embedded(config: EmbeddedConfig) -> EmbeddedRoomServer:
    """The server a run or walk starts: a free port, in memory, the faults, the ring time."""
    settings = RoomServerSettings(host=config.host, port=0, faults=tuple(parse_fault(f) for f in config.faults))
    if config.ring_timeout_s is not None:
        settings = dataclasses.replace(settings, ring_timeout_s=config.ring_timeout_s)
    if config.load:
        settings = dataclasses.replace(settings, **LOAD_LIMITS)
    return EmbeddedRoomServer(settings)


__all__ = ["LOAD_LIMITS", "LOGGER_NAME", "EmbeddedRoomServer", "Faults", "create_server", "embedded", "parse_fault"]

"""The embedded call-room server: a faithful reference of the Go/Gin call-room service.

It behaves as ``docs/backends/rooms.md`` describes, and its faults
(``callprobe.backends.rooms.faults``) reproduce, on purpose, the failures seen
with that service in the field. Everything it logs goes to the
``callprobe.server.rooms`` logger (``LOGGER_NAME``): one WARNING line per
refused input, INFO for connections and call transitions; an embedder keeps
it off the terminal by setting that one logger's level.
"""

from callprobe.backends.rooms.server.faults import Faults, parse_fault
from callprobe.backends.rooms.server.log import LOGGER_NAME
from callprobe.backends.rooms.server.server import EmbeddedRoomServer, create_server

__all__ = ["LOGGER_NAME", "EmbeddedRoomServer", "Faults", "create_server", "parse_fault"]

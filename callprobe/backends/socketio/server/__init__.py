"""The embedded reference server of the Socket.IO chat backend (``docs/backends/socketio.md``).

It behaves like the FastAPI + python-socketio chat backends seen in the field
(REST register/login/history, Socket.IO events for messages and calls, a
``user_<id>`` room per user), and its faults reproduce their bugs on purpose.
Everything it logs goes to the ``callprobe.server.socketio`` logger or its
children: one WARNING line per refused input, INFO for connections and call
transitions.
"""

import dataclasses
from typing import Any

from callprobe.backends.base import EmbeddedConfig
from callprobe.backends.socketio.server.faults import Faults, parse_fault
from callprobe.backends.socketio.server.server import (
    LOGGER_NAME,
    EmbeddedChatServer,
    create_server,
)
from callprobe.settings import ChatServerSettings

#: Limits a load run lifts (``EmbeddedConfig.load``): one machine's agents open far more sockets than
#: one client address would.
LOAD_LIMITS: dict[str, Any] = {"max_connections": 100_000}


def embedded(config: EmbeddedConfig) -> EmbeddedChatServer:
    """The server a run or walk starts: a free port, in memory, the faults, the ring time."""
    settings = ChatServerSettings(host=config.host, port=0, faults=tuple(parse_fault(f) for f in config.faults))
    if config.ring_timeout_s is not None:
        settings = dataclasses.replace(settings, ring_timeout_s=config.ring_timeout_s)
    if config.load:
        settings = dataclasses.replace(settings, **LOAD_LIMITS)
    return EmbeddedChatServer(settings)


__all__ = ["LOAD_LIMITS", "LOGGER_NAME", "EmbeddedChatServer", "Faults", "create_server", "embedded", "parse_fault"]

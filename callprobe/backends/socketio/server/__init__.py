"""The embedded reference server of the Socket.IO chat backend (``docs/backends/socketio.md``).

It behaves like the FastAPI + python-socketio chat backends seen in the field
(REST register/login/history, Socket.IO events for messages and calls, a
``user_<id>`` room per user), and its faults reproduce their bugs on purpose.
Everything it logs goes to the ``callprobe.server.socketio`` logger or its
children: one WARNING line per refused input, INFO for connections and call
transitions.
"""

from callprobe.backends.socketio.server.faults import Faults, parse_fault
from callprobe.backends.socketio.server.server import (
    LOGGER_NAME,
    EmbeddedChatServer,
    create_server,
)

__all__ = ["LOGGER_NAME", "EmbeddedChatServer", "Faults", "create_server", "parse_fault"]

"""The embedded reference gateway: a faithful KKIM server built on ``callprobe.backends.kkim.protocol``.

It behaves like a KKIM server as the seed describes it and, where the seed is
silent, like OpenIM v3.8.3 (PROTOCOL.md Part A), so what callprobe learns
against it transfers to real servers. Its fault injectors (``faults``)
reproduce the failures of FIELD-REPORTS.md on purpose.

Everything it logs goes to the ``callprobe.backends.kkim.server`` logger (``LOGGER_NAME``)
or its children, the websockets library's lines about its connections
included: one WARNING line per malformed or refused input, INFO for
connections and call transitions. A command that embeds the gateway keeps it
off the user's terminal by setting that one logger's level.
"""

from callprobe.backends.kkim.faults import FAULTS
from callprobe.backends.kkim.server.faults import Faults, parse_fault
from callprobe.backends.kkim.server.server import (
    LOGGER_NAME,
    EmbeddedGateway,
    ThreadedGateway,
)

__all__ = ["FAULTS", "LOGGER_NAME", "EmbeddedGateway", "Faults", "ThreadedGateway", "parse_fault"]

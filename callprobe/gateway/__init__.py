"""The embedded reference gateway: a faithful KKIM server built on ``callprobe.protocol``.

It behaves like a KKIM server as the seed describes it and, where the seed is
silent, like OpenIM v3.8.3 (PROTOCOL.md Part A), so what callprobe learns
against it transfers to real servers. Its fault injectors (``faults``)
reproduce the failures of FIELD-REPORTS.md on purpose.
"""

from callprobe.gateway.faults import FAULTS, Faults, parse_fault
from callprobe.gateway.server import EmbeddedGateway, ThreadedGateway

__all__ = ["FAULTS", "EmbeddedGateway", "Faults", "ThreadedGateway", "parse_fault"]

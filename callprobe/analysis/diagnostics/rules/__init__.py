"""Diagnostic rules, one module per link or family of links, registered in link order.

``registry`` holds ``RULES``, ``diagnose_timeline`` and ``first_broken_link``;
importing this package registers every rule. The probe markers the walk
records are specified in ``analysis.diagnostics.links``.
"""

from callprobe.analysis.diagnostics.rules import answer, connection, invite, media, push, room, teardown  # noqa: F401  (registration, in link order)
from callprobe.analysis.diagnostics.rules.common import SEND_ACTIONS
from callprobe.analysis.diagnostics.rules.registry import RULES, Rule, diagnose_timeline, first_broken_link, rule

__all__ = ["RULES", "SEND_ACTIONS", "Rule", "diagnose_timeline", "first_broken_link", "rule"]

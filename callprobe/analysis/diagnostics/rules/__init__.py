"""Diagnostic rules, one module per link or family of links, registered in link order.

``registry`` holds ``RULES``, ``diagnose_timeline`` and ``first_broken_link``;
importing this package registers every rule. The probe markers the walk
records are specified in ``analysis.diagnostics.links``.
"""
# ruff: noqa: I001  (the modules register their rules in link order: keep this order)

from callprobe.analysis.diagnostics.rules import connection  # noqa: F401
from callprobe.analysis.diagnostics.rules import forged_invite  # noqa: F401
from callprobe.analysis.diagnostics.rules import push  # noqa: F401
from callprobe.analysis.diagnostics.rules import invite  # noqa: F401
from callprobe.analysis.diagnostics.rules import callee_lookup  # noqa: F401
from callprobe.analysis.diagnostics.rules import answer  # noqa: F401
from callprobe.analysis.diagnostics.rules import room  # noqa: F401
from callprobe.analysis.diagnostics.rules import media  # noqa: F401
from callprobe.analysis.diagnostics.rules import signals  # noqa: F401
from callprobe.analysis.diagnostics.rules import teardown  # noqa: F401
from callprobe.analysis.diagnostics.rules import conversations  # noqa: F401
from callprobe.analysis.diagnostics.rules.common import SEND_ACTIONS
from callprobe.analysis.diagnostics.rules.registry import RULES, Rule, diagnose_timeline, first_broken_link, rule

__all__ = ["RULES", "SEND_ACTIONS", "Rule", "diagnose_timeline", "first_broken_link", "rule"]

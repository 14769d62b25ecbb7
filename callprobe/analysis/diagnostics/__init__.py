"""Pure diagnostics: recorded timeline events in, findings with hints out."""

from callprobe.analysis.diagnostics.context import RuleContext
from callprobe.analysis.diagnostics.findings import CATALOGUE, CODES, Finding, Severity, make_finding
from callprobe.analysis.diagnostics.links import Link
from callprobe.analysis.diagnostics.rules import RULES, diagnose_timeline, first_broken_link

__all__ = [
    "CATALOGUE",
    "CODES",
    "RULES",
    "Finding",
    "Link",
    "RuleContext",
    "Severity",
    "diagnose_timeline",
    "first_broken_link",
    "make_finding",
]

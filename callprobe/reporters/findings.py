"""The one findings section of the terminal reports (``run`` and ``diagnose``).

Each finding prints once, here: its code, severity and link, its title,
what happened (one line per agent that saw it), the hint, and its evidence.
Findings that say the same thing about several agents (``ICE_FAILED`` at the
caller and at the callee) are one entry with a line per agent. The ladder
only marks rows with codes, and the verdict line names the first broken
link by code; neither repeats a finding's words.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.text import Text

from callprobe.analysis.diagnostics.findings import Finding, Severity

#: Evidence events shown per entry; the JSON report holds them all.
EVIDENCE_SHOWN = 4
_MARK = {Severity.ERROR: ("✖", "bold red"), Severity.WARNING: ("▲", "yellow"), Severity.INFO: ("ℹ", "blue")}


@dataclass(frozen=True)
class FindingGroup:
    """Findings with one code, title and hint: printed as one entry."""

    findings: tuple[Finding, ...]

    @property
    def head(self) -> Finding:
        return self.findings[0]


def group_findings(findings: Sequence[Finding]) -> list[FindingGroup]:
    """Findings in their order, those with the same code, title, hint and severity together."""
    groups: dict[tuple[str, str, str, str], list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.code, f.title, f.hint, f.severity.value), []).append(f)
    return [FindingGroup(tuple(g)) for g in groups.values()]


def _fields(e: Any) -> str:
    data = {k: v for k, v in e.to_json().items()
            if k not in ("t_ms", "agent", "kind", "room_id") and v not in (None, "", [], {}, False)}
    text = " ".join(f"{k}={json.dumps(v, default=str, ensure_ascii=False)}" for k, v in data.items())
    return text if len(text) <= 120 else text[:117] + "..."


def render_findings(findings: Sequence[Finding], out: Console, first: Finding | None = None,
                    limit: int | None = None) -> None:
    """The findings section: nothing when there is none.

    ``limit``: at most that many codes, and that many occurrences of each, so a
    run of many calls keeps its verdict on the screen (the JSON report holds
    every one); the rest are counted on one line.
    """
    if not findings:
        return
    out.print(Text("findings", style="bold"))
    groups = group_findings(findings)
    shown = groups if limit is None else groups[:limit]
    for group in shown:
        f = group.head
        mark, style = _MARK[f.severity]
        line = Text(f"{mark} {f.code}", style=style)
        line.append(f" ({f.severity.value}, link {f.link or '?'})", style="dim")
        line.append(f" — {f.title}")
        if first is not None and first in group.findings:
            line.append("  ← first broken link", style="bold red")
        out.print(line)
        occurrences = group.findings if limit is None else group.findings[:limit]
        for one in occurrences:
            when = "" if one.at_ms is None else f"+{one.at_ms:.0f} ms"
            who = f" {one.agent}" if one.agent else ""
            if one.detail or len(group.findings) > 1:
                out.print(Text(f"    {when}{who}: {one.detail or one.title}"))
        if len(occurrences) < len(group.findings):
            out.print(Text(f"    … {len(group.findings) - len(occurrences)} more of {f.code}; "
                           "-v or the JSON report (--json) lists every one", style="dim"))
        if f.hint:
            out.print(Text(f"    hint: {f.hint}", style="italic"))
        evidence = list({(e.t_ms, e.agent, e.kind): e for one in group.findings for e in one.evidence}.values())
        for e in evidence[:EVIDENCE_SHOWN]:
            out.print(Text(f"    evidence +{e.t_ms:.0f} ms {e.agent or '-'} {e.kind} {_fields(e)}".rstrip(),
                           style="dim"))
        if len(evidence) > EVIDENCE_SHOWN:
            out.print(Text(f"    … {len(evidence) - EVIDENCE_SHOWN} more event(s) in the JSON report",
                           style="dim"))
    if len(shown) < len(groups):
        rest = groups[len(shown):]
        out.print(Text(f"… {sum(len(g.findings) for g in rest)} more findings: "
                       + ", ".join(f"{g.head.code} ×{len(g.findings)}" for g in rest)
                       + " (-v or --json for each)", style="dim"))


def first_words(first: Finding | None) -> str:
    """The verdict line's reference to the first broken link: by link and code only."""
    return "" if first is None else f"first broken link: {first.link} ({first.code})"

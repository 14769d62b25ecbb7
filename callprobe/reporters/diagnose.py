"""Reports of a diagnose walk: the JSON document, the console checklist, the HTML ladder, the bundle."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from callprobe.analysis.results import WalkResult
from callprobe.reporters.ladder import Ladder, build_ladder, render_ladder, render_ladder_html, render_ladder_text
from callprobe.timeline.events import StepFinished

#: Version of the diagnose JSON document (``docs/reports.md``).
SCHEMA_VERSION = 2


def report_dict(result: WalkResult) -> dict[str, Any]:
    t = result.target
    return {
        "schema": SCHEMA_VERSION,
        "kind": "diagnose",
        "target": {"backend": t.backend, "server": t.server, "api": t.api or None, "caller": t.caller,
                   "callee": t.callee, "caller_platform": t.caller_platform,
                   "callee_platform": t.callee_platform, "media": t.media},
        "healthy": result.healthy,
        "aborted": result.aborted or None,
        "first_broken": result.first.to_json() if result.first else None,
        "links": [{"link": link.link, "step": link.step, "agent": link.agent, "ok": link.ok}
                  for link in result.links],
        "findings": [f.to_json() for f in result.findings],
        "duration_ms": round(result.duration_ms, 3),
        "events": [e.to_json() for e in result.events],
    }


def write_json(result: WalkResult, path: Path) -> None:
    path.write_text(json.dumps(report_dict(result), indent=2, default=str) + "\n")


def ladder(result: WalkResult, echoes: bool = False) -> Ladder:
    return build_ladder(result.events, result.findings, echoes=echoes)


def html(result: WalkResult) -> str:
    t = result.target
    return render_ladder_html(ladder(result), title=f"callprobe diagnose {t.caller} → {t.callee}")


def render(result: WalkResult, out: Console, show_ladder: bool, echoes: bool = False) -> None:
    t = result.target
    out.print(Text(f"diagnose {t.caller} → {t.callee} ({t.media}) at {t.server}", style="bold"))
    for link in result.links:
        what = link.link if link.step in (link.link, "invite", "connect", "answer") else f"{link.link}: {link.step}"
        who = f" ({link.agent})" if link.agent else ""
        out.print(Text(f"  {'✓' if link.ok else '✗'} {what}{who}", style="green" if link.ok else "red"))
    for step in _missing_steps(result):
        out.print(Text(f"  – {step.step}: not on this backend ({step.reason})", style="dim"))
    if show_ladder and result.events:
        out.print(render_ladder(ladder(result, echoes), width=min(out.width, 140)))
    for finding in result.findings:
        style = {"error": "bold red", "warning": "yellow"}.get(finding.severity.value, "")
        out.print(Text(f"{finding.code} ({finding.severity.value}) — {finding.title}", style=style))
        if finding.detail:
            out.print(f"  what happened: {finding.detail}")
        if finding.hint:
            out.print(f"  hint: {finding.hint}")
        for e in finding.evidence[:4]:
            extra = {k: v for k, v in e.to_json().items() if k not in ("t_ms", "agent", "kind", "room_id")}
            out.print(f"  evidence +{e.t_ms:.0f} ms {e.agent or '-'} {e.kind} {_short(extra)}")
    if result.aborted:
        out.print(Text(f"UNREACHABLE  {result.aborted}", style="bold red"))
    elif result.first is not None or not result.healthy:
        first = result.first or next((f for f in result.findings), None)
        if first is None:
            out.print(Text("BROKEN  a link failed; see the list above", style="bold red"))
            return
        out.print(Text(f"BROKEN  first broken link: {first.link} — {first.code}: {first.title}",
                       style="bold red"))
    else:
        out.print(Text(f"HEALTHY  {len(result.links)} links checked in {result.duration_ms / 1000:.2f} s",
                       style="bold green"))


def _missing_steps(result: WalkResult) -> list[StepFinished]:
    """Steps the walk skipped because the backend has no such link (``exists: false``)."""
    return [e for e in result.events if isinstance(e, StepFinished) and e.extra.get("exists") is False]


def _short(fields: dict[str, Any]) -> str:
    text = json.dumps(fields, default=str, separators=(",", ":"))
    return text if len(text) <= 160 else text[:157] + "..."


def write_bundle(result: WalkResult, path: Path) -> None:
    """report.json, ladder.html and ladder.txt in a .zip (or a directory), to hand to support."""
    files = {
        "report.json": json.dumps(report_dict(result), indent=2, default=str) + "\n",
        "ladder.html": html(result),
        "ladder.txt": render_ladder_text(ladder(result)),
    }
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, text in files.items():
                zf.writestr(name, text)
        return
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(text)

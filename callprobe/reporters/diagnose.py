"""Reports of a diagnose walk: the JSON document, the console checklist, the HTML ladder, the bundle."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from callprobe.analysis.diagnostics.findings import Severity
from callprobe.analysis.results import WalkResult
from callprobe.reporters.findings import first_words, render_findings
from callprobe.reporters.html_report import link_words, walk_checks
from callprobe.reporters.ladder import Ladder, build_ladder, render_ladder, render_ladder_html, render_ladder_text
from callprobe.timeline.events import StepFinished

#: Version of the diagnose JSON document (``docs/reports.md``, ``docs/schemas/diagnose-report.schema.json``).
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
        "unreachable": result.unreachable,
        "interrupted": result.interrupted or None,
        "first_broken": result.first.to_json() if result.first else None,
        "links": [{"link": link.link, "step": link.step, "agent": link.agent, "ok": link.ok}
                  for link in result.links],
        "findings": [f.to_json() for f in result.findings],
        "duration_ms": round(result.duration_ms, 3),
        "events": [e.to_json() for e in result.events],
    }


def report_text(result: WalkResult) -> str:
    return json.dumps(report_dict(result), indent=2, default=str) + "\n"


def write_json(result: WalkResult, path: Path) -> None:
    path.write_text(report_text(result))


def ladder(result: WalkResult, echoes: bool = False) -> Ladder:
    return build_ladder(result.events, result.findings, echoes=echoes)


def html(result: WalkResult) -> str:
    t = result.target
    return render_ladder_html(ladder(result), title=f"callprobe diagnose {t.caller} → {t.callee}",
                              checks=walk_checks(result))


def render(result: WalkResult, out: Console, show_ladder: bool, echoes: bool = False,
           live: bool = False) -> None:
    """The checklist (unless ``live`` progress showed it already), the ladder, the findings, the verdict."""
    t = result.target
    if not live:
        out.print(Text(f"diagnose {t.caller} → {t.callee} ({t.media}) at {t.server}", style="bold"))
        for link in result.links:
            out.print(Text(f"  {'✓' if link.ok else '✗'} {link_words(link)}", style="green" if link.ok else "red"))
    for step in _missing_steps(result):
        out.print(Text(f"  – {step.step}: not on this backend ({step.reason})", style="dim"))
    for step in _unchecked_steps(result):
        out.print(Text(f"  – {step.step}: {step.reason}", style="dim"))
    if show_ladder and result.events:
        out.print(render_ladder(ladder(result, echoes), width=min(out.width, 140), legend=False))
    render_findings(result.findings, out, result.first)
    out.print(verdict_line(result))


def verdict_line(result: WalkResult) -> Text:
    """One line: HEALTHY, BROKEN (first broken link by code), UNREACHABLE or INTERRUPTED."""
    if result.interrupted:
        first = f"; {first_words(result.first)}" if result.first else ""
        return Text(f"INTERRUPTED  {result.interrupted}: the reports hold what was seen{first}", style="bold red")
    if result.aborted or result.unreachable:
        why = result.aborted or (first_words(result.first) if result.first else "")
        return Text(f"UNREACHABLE  {why}", style="bold red")
    if result.first is not None or not result.healthy:
        if result.first is None:
            return Text("BROKEN  a link failed; see the checklist above", style="bold red")
        return Text(f"BROKEN  {first_words(result.first)}", style="bold red")
    warnings = sorted({f.code for f in result.findings if f.severity is Severity.WARNING})
    said = f"; {len(warnings)} warning(s): {', '.join(warnings)}" if warnings else ""
    unchecked = [e.step for e in _unchecked_steps(result)]
    said += f"; could not check {', '.join(unchecked)}" if unchecked else ""
    return Text(f"HEALTHY  {len(result.links)} links checked in {result.duration_ms / 1000:.2f} s{said}",
                style="bold yellow" if warnings else "bold green")


def _missing_steps(result: WalkResult) -> list[StepFinished]:
    """Steps the walk skipped because the backend has no such link (``exists: false``)."""
    return [e for e in result.events if isinstance(e, StepFinished) and e.extra.get("exists") is False]



def _unchecked_steps(result: WalkResult) -> list[StepFinished]:
    """Probes the server kept from running to their end (``checked: false``): neither healthy nor broken."""
    return [e for e in result.events if isinstance(e, StepFinished) and e.extra.get("checked") is False]


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

"""Reports of ``run --repeat``: the console tables, the JSON report and JUnit (one case per run).

The JSON report (``kind: "repeat"``, docs/load.md#repeat-and-flake-control)
holds the aggregate and every run's figures, expectations and findings; the
full timeline only of the runs that failed, so a flaky run can be read and
re-diagnosed from the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from junitparser import Failure, JUnitXml, TestCase, TestSuite
from rich.console import Console
from rich.table import Table

from callprobe.analysis.load.records import FIGURES, failure_reason, first_media_ms
from callprobe.analysis.repeat import RepeatResult, RepeatRun

SCHEMA_VERSION = 1


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _cause(run: RepeatRun) -> str:
    errors = run.result.errors
    return f"{errors[0].code}: {errors[0].detail or errors[0].title}" if errors else ""


def render_repeat(result: RepeatResult, console: Console) -> None:
    runs = Table(title=f"{result.scenario}: {result.times} runs, {result.parallel} at a time", title_justify="left")
    for col in ("run", "verdict", "s", "ring", "answer", "ICE", "media", "why"):
        runs.add_column(col, justify="right" if col in ("run", "s", "ring", "answer", "ICE", "media") else "left")
    for run in result.runs:
        r = run.result
        call = r.calls[0] if r.calls else None
        why = "" if r.verdict == "pass" else failure_reason(r.steps, r.aborted)
        cause = _cause(run)
        if why and cause:
            why += f" (likely: {cause})"
        runs.add_row(str(run.number), "[green]pass[/]" if r.verdict == "pass" else "[red]fail[/]",
                     f"{r.duration_ms / 1000:.1f}", _ms(call.time_to_ring_ms if call else None),
                     _ms(call.time_to_answer_ms if call else None), _ms(call.ice["connected_ms"] if call else None),
                     _ms(first_media_ms(call) if call else None), why)
    console.print(runs)
    t = result.totals
    figures = Table(title="every run's calls (ms)", title_justify="left")
    for col in ("figure", "count", "p50", "p95", "p99", "max"):
        figures.add_column(col, justify="left" if col == "figure" else "right")
    for name in FIGURES:
        h = t.figure(name)
        if h.count:
            figures.add_row(name, str(h.count), *(f"{h.percentile_ms(p) or 0:.1f}" for p in (50, 95, 99)),
                            f"{h.max_ms() or 0:.1f}")
    console.print(figures)
    if t.findings:
        console.print("findings: " + ", ".join(f"{code} in {n} run(s)" for code, n in t.findings.most_common()))
    mark = "[green]pass[/]" if result.verdict == "pass" else "[red]fail[/]"
    console.print(f"{result.passed} of {result.times} runs passed (required {result.required}): {mark}")


def repeat_dict(result: RepeatResult) -> dict[str, Any]:
    runs = []
    for run in result.runs:
        r = run.result
        entry: dict[str, Any] = {
            "run": run.number, "users": run.users or None, "verdict": r.verdict,
            "duration_ms": round(r.duration_ms, 3), "aborted": r.aborted or None,
            "calls": [c.to_json() for c in r.calls],
            "expectations": [{"line": s.line, "text": s.text, "passed": s.passed, "detail": s.detail,
                              "kind": s.kind} for s in r.steps],
            "findings": [f.to_json() for f in r.findings],
        }
        if r.verdict != "pass":
            entry["events"] = [e.to_json() for e in r.events]
        runs.append(entry)
    return {"schema": SCHEMA_VERSION, "kind": "repeat", "scenario": result.scenario, "file": result.file,
            "verdict": result.verdict, "times": result.times, "required": result.required,
            "parallel": result.parallel, "passed": result.passed, "duration_ms": round(result.duration_ms, 3),
            "interrupted": result.interrupted or None, "server": result.server,
            "aggregate": result.totals.summary(), "runs": runs}


def write_repeat_json(result: RepeatResult, path: str | Path) -> None:
    Path(path).write_text(json.dumps(repeat_dict(result), indent=2, default=str) + "\n")


def write_repeat_junit(result: RepeatResult, path: str | Path) -> None:
    suite = TestSuite(f"{result.scenario or result.file} x{result.times}")
    for run in result.runs:
        r = run.result
        case = TestCase(f"run {run.number}" + (f" (users -{run.users})" if run.users else ""),
                        classname=result.file or "scenario")
        case.time = round(r.duration_ms / 1000.0, 3)
        if r.verdict != "pass":
            cause = _cause(run)
            case.result = [Failure(failure_reason(r.steps, r.aborted) + (f" (likely cause: {cause})" if cause else ""),
                                   type_="run")]
        suite.add_testcase(case)
    suite.time = round(result.duration_ms / 1000.0, 3)
    xml = JUnitXml()
    xml.add_testsuite(suite)
    xml.write(str(path), pretty=True)

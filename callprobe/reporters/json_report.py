"""The run's machine-readable report (``docs/reports.md``; ``docs/schemas/run-report.schema.json``).

Top-level keys: ``schema`` (version), ``scenario``, ``file``, ``verdict``,
``duration_ms``, ``aborted``, ``interrupted``, ``server``, ``parties`` (what
each party was), ``calls``, ``expectations``, ``findings`` and ``events``.
Events are the whole timeline, so every figure can be recomputed and the
diagnostic rules re-run from the file alone.

Schema 2 (this version): every call lists its ``invitees`` (a call may invite
several users, each with its own outcome), ``inbound``, ``external``,
``uncertainty_ms`` and its notices' ``observed``; ``parties`` is new; optional
values are present as ``null`` rather than left out (``signaling.hung_up_by``,
``server.host``...). ``load_report`` reads schema 1 and 2.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from callprobe.analysis.diagnostics.findings import Finding
from callprobe.analysis.metrics import derive_calls
from callprobe.analysis.results import RunResult, StepResult
from callprobe.timeline.events import event_from_json

SCHEMA_VERSION = 2

#: Versions ``load_report`` reads.
READABLE_SCHEMAS = (1, 2)


def _call(call: dict[str, Any]) -> dict[str, Any]:
    signaling = {"invite_dialect": None, "hung_up_by": None, **call.get("signaling", {})}
    return {**call, "signaling": signaling}


def report_dict(result: RunResult) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "scenario": result.scenario,
        "file": result.file,
        "verdict": result.verdict,
        "duration_ms": round(result.duration_ms, 3),
        "aborted": result.aborted or None,
        "interrupted": result.interrupted or None,
        "server": {"host": None, "netns": None, **result.server},
        "parties": [{k: v for k, v in p.to_json().items() if k not in ("t_ms", "kind")} for p in result.parties],
        "calls": [_call(c.to_json()) for c in result.calls],
        "expectations": [
            {"line": s.line, "text": s.text, "passed": s.passed, "detail": s.detail, "kind": s.kind,
             "t_ms": round(s.t_ms, 3), "duration_ms": round(s.duration_ms, 3)}
            for s in result.steps
        ],
        "findings": [f.to_json() for f in result.findings],
        "events": [e.to_json() for e in result.events],
    }


def report_text(result: RunResult) -> str:
    return json.dumps(report_dict(result), indent=2, default=str) + "\n"


def write_json(result: RunResult, path: str | Path) -> None:
    Path(path).write_text(report_text(result))


def load_report(source: str | Path | Mapping[str, Any]) -> RunResult:
    """A run report (schema 1 or 2) read back: events typed, calls derived again from them.

    Raises:
        ValueError: not a run report, or a schema this version cannot read.
    """
    data = source if isinstance(source, Mapping) else json.loads(Path(source).read_text())
    version = data.get("schema")
    if version not in READABLE_SCHEMAS or data.get("kind", "run") != "run":
        raise ValueError(f"not a run report of schema {' or '.join(map(str, READABLE_SCHEMAS))}: "
                         f"schema {version!r}, kind {data.get('kind', 'run')!r}")
    events = [event_from_json(e) for e in data.get("events", ())]
    steps = [StepResult(int(s.get("line", 0)), str(s.get("text", "")), bool(s.get("passed")),
                        str(s.get("detail", "")), str(s.get("kind", "expectation")),
                        float(s.get("t_ms", 0.0) or 0.0), float(s.get("duration_ms", 0.0) or 0.0))
             for s in data.get("expectations", ())]
    return RunResult(
        scenario=str(data.get("scenario", "")), file=str(data.get("file", "")),
        server=dict(data.get("server") or {}), duration_ms=float(data.get("duration_ms", 0.0) or 0.0),
        events=events, steps=steps, calls=derive_calls(events),
        findings=[Finding.from_json(f) for f in data.get("findings", ())],
        aborted=str(data.get("aborted") or ""), interrupted=str(data.get("interrupted") or ""))

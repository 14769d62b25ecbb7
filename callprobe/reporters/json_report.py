"""The machine-readable report (schema documented in README, "JSON report").

Top-level keys: ``schema`` (version), ``scenario``, ``file``, ``verdict``,
``duration_ms``, ``server``, ``parties`` (schema 2: what each party was, see
``docs/reports.md``), ``calls``, ``expectations``, ``findings`` and
``events``. Events are the whole timeline, so every figure can be recomputed
and the diagnostic rules re-run from the file alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from callprobe.analysis.results import RunResult

SCHEMA_VERSION = 2  # 2: parties; calls' inbound, external, uncertainty_ms and notices' observed


def report_dict(result: RunResult) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "scenario": result.scenario,
        "file": result.file,
        "verdict": result.verdict,
        "duration_ms": round(result.duration_ms, 3),
        "aborted": result.aborted or None,
        "server": result.server,
        "parties": [{k: v for k, v in p.to_json().items() if k not in ("t_ms", "kind")} for p in result.parties],
        "calls": [c.to_json() for c in result.calls],
        "expectations": [
            {"line": s.line, "text": s.text, "passed": s.passed, "detail": s.detail, "kind": s.kind,
             "t_ms": round(s.t_ms, 3), "duration_ms": round(s.duration_ms, 3)}
            for s in result.steps
        ],
        "findings": [f.to_json() for f in result.findings],
        "events": [e.to_json() for e in result.events],
    }


def write_json(result: RunResult, path: str | Path) -> None:
    Path(path).write_text(json.dumps(report_dict(result), indent=2, default=str) + "\n")

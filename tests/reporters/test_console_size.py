"""The terminal report stays readable at any size: a few call tables, then a summary; failed steps
first; the verdict always last. ``-v`` and the JSON report keep everything."""

from __future__ import annotations

import io

from rich.console import Console

from callprobe.analysis.diagnostics.findings import Finding, Severity
from callprobe.analysis.metrics import CallMetrics
from callprobe.analysis.results import RunResult, StepResult
from callprobe.reporters.console import MAX_CALL_TABLES, MAX_FINDINGS, MAX_STEP_ROWS, render


def big_run(calls: int = 300, steps: int = 2000, findings: int = 300) -> RunResult:
    return RunResult(
        scenario="many calls", file="many.yaml", server={}, duration_ms=1000.0, events=[],
        steps=[StepResult(line=10 + i, text=f"expect: {{call: {i}}}", passed=i % 500 != 7, detail="d")
               for i in range(steps)],
        calls=[CallMetrics(caller=f"a{i}", callee=f"b{i}", room_id=f"r{i}", media_kind="audio",
                           outcome="answered" if i % 3 else "no-answer") for i in range(calls)],
        findings=[Finding(code="LOGIN_FAILED" if i % 2 else "ICE_FAILED", severity=Severity.ERROR, title="t",
                          hint="h", evidence=(), at_ms=None, agent=f"a{i}") for i in range(findings)])


def rendered(result: RunResult, verbose: bool = False) -> list[str]:
    console = Console(record=True, width=120, force_terminal=False, file=io.StringIO())
    render(result, console, verbose=verbose)
    return console.export_text().splitlines()


def test_a_run_of_many_calls_stays_readable() -> None:
    lines = rendered(big_run())
    titles = [line for line in lines if line.startswith("call ") and "→" in line]
    assert len(titles) == MAX_CALL_TABLES
    assert "calls 11 to 300: 194 answered, 96 no-answer (-v or --json for each call's figures)" in lines
    failed = [line for line in lines if "✗" in line]
    assert len(failed) == 4  # every failed step is listed, whatever its place
    assert any("1950 more steps not shown (1950 held, 0 failed)" in line for line in lines)
    assert sum(line.startswith(("LOGIN_FAILED (error)", "ICE_FAILED (error)")) for line in lines) == MAX_FINDINGS
    assert any("290 more findings: ICE_FAILED ×145, LOGIN_FAILED ×145" in line for line in lines)
    assert lines[-2].startswith("FAIL  4/2000 failed") and "likely cause" in lines[-1]  # the verdict ends it
    assert len(lines) < 30 * MAX_CALL_TABLES + MAX_STEP_ROWS + 3 * MAX_FINDINGS


def test_verbose_keeps_everything() -> None:
    lines = rendered(big_run(calls=30, steps=80, findings=20), verbose=True)
    assert sum(line.startswith("call ") and "→" in line for line in lines) == 30
    assert sum(line.startswith(("LOGIN_FAILED (error)", "ICE_FAILED (error)")) for line in lines) == 20
    assert not any("not shown" in line or "more findings" in line for line in lines)


def test_a_small_run_is_unchanged() -> None:
    lines = rendered(big_run(calls=2, steps=12, findings=1))
    assert not any("not shown" in line or "more findings" in line or line.startswith("calls ") for line in lines)

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
    # each code once, with at most MAX_FINDINGS of its occurrences, the rest counted
    assert sum(line.startswith(("✖ LOGIN_FAILED (error", "✖ ICE_FAILED (error")) for line in lines) == 2
    assert sum(line.startswith("     a") for line in lines) == 2 * MAX_FINDINGS
    assert sum(f"… {150 - MAX_FINDINGS} more of" in line for line in lines) == 2
    assert lines[-2].startswith("FAIL  4/2000 failed") and "first broken link" in lines[-1]  # the verdict ends it
    assert len(lines) < 30 * MAX_CALL_TABLES + MAX_STEP_ROWS + 3 * MAX_FINDINGS


def test_verbose_keeps_everything() -> None:
    lines = rendered(big_run(calls=30, steps=80, findings=20), verbose=True)
    assert sum(line.startswith("call ") and "→" in line for line in lines) == 30
    assert sum(line.startswith("     a") for line in lines) == 20
    assert not any("not shown" in line or "more findings" in line or "more of" in line for line in lines)


def test_a_small_run_is_unchanged() -> None:
    lines = rendered(big_run(calls=2, steps=12, findings=1))
    assert not any("not shown" in line or "more findings" in line or line.startswith("calls ") for line in lines)


def test_many_kinds_of_finding_are_counted_past_the_limit() -> None:
    result = big_run(calls=1, steps=1, findings=0)
    result.findings = [Finding(code=f"CODE_{i:02d}", severity=Severity.WARNING, title="t", hint="", evidence=(),
                               at_ms=None, agent="a") for i in range(MAX_FINDINGS + 3)]
    lines = rendered(result)
    assert sum(line.startswith("▲ CODE_") for line in lines) == MAX_FINDINGS
    assert any(f"3 more findings: CODE_{MAX_FINDINGS:02d} ×1" in line for line in lines)

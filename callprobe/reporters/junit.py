"""JUnit XML for CI: one test case per expectation (and per failed action)."""

from __future__ import annotations

from pathlib import Path

from junitparser import Failure, JUnitXml, TestCase, TestSuite

from callprobe.analysis.results import RunResult


def write_junit(result: RunResult, path: str | Path) -> None:
    suite = TestSuite(result.scenario or result.file)
    errors = [f for f in result.findings if getattr(f.severity, "value", "") == "error"]
    cause = f" (likely cause: {errors[0].code}: {errors[0].detail or errors[0].title})" if errors else ""
    for step in result.steps:
        case = TestCase(f"line {step.line}: {step.text}", classname=result.file or "scenario")
        case.time = round(step.duration_ms / 1000.0, 3)
        if not step.passed:
            case.result = [Failure(step.detail + cause, type_=step.kind)]
        case.system_out = step.detail
        suite.add_testcase(case)
    if result.aborted:
        case = TestCase("run", classname=result.file or "scenario")
        case.result = [Failure(result.aborted, type_="aborted")]
        suite.add_testcase(case)
    suite.time = round(result.duration_ms / 1000.0, 3)
    xml = JUnitXml()
    xml.add_testsuite(suite)
    xml.write(str(path), pretty=True)

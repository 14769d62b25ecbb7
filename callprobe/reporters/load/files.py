"""The load report as files: the JSON summary, the CSV time series, JUnit.

The JSON summary follows ``docs/schemas/load-report.schema.json``; the CSV
has one row per second with the columns ``SERIES_COLUMNS``; JUnit has one
test case per threshold (one case, ``calls``, when none was given).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from junitparser import Failure, JUnitXml, TestCase, TestSuite

from callprobe.analysis.load.report import SERIES_COLUMNS, LoadReport


def write_json(report: LoadReport, path: str | Path) -> None:
    Path(path).write_text(json.dumps(report.to_json(), indent=2, default=str) + "\n")


def write_csv(report: LoadReport, path: str | Path) -> None:
    with Path(path).open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(SERIES_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        for row in report.series:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in SERIES_COLUMNS})


def write_junit(report: LoadReport, path: str | Path) -> None:
    suite = TestSuite(f"load {report.scenario or report.file}")
    totals = report.totals
    summary = (f"{totals.completed} calls, {totals.passed} passed, {totals.failed} failed, "
               f"{totals.dropped} dropped, in {report.duration_s:.1f} s")
    for result in report.thresholds:
        case = TestCase(f"threshold {result.threshold.text}", classname=report.file or "load")
        case.system_out = f"observed {result.describe()}; {summary}"
        if not result.passed:
            case.result = [Failure(f"{result.threshold.text}: observed {result.describe()}", type_="threshold")]
        suite.add_testcase(case)
    if not report.thresholds:
        case = TestCase("calls", classname=report.file or "load")
        case.system_out = summary
        suite.add_testcase(case)
    for error in report.errors:
        case = TestCase("worker", classname=report.file or "load")
        case.result = [Failure(error, type_="worker")]
        suite.add_testcase(case)
    suite.time = round(report.duration_s, 3)
    xml = JUnitXml()
    xml.add_testsuite(suite)
    xml.write(str(path), pretty=True)

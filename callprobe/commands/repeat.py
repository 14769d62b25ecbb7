"""``callprobe run FILE --repeat N``: the repeated side of ``run`` (docs/load.md#repeat-and-flake-control)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from rich.console import Console

from callprobe.errors import ExitCode
from callprobe.scenario.model import Scenario


def play_repeated(scenario: Scenario, *, times: int, require: str | None, parallel: int, ws_url: str | None,
                  api_url: str | None, keep_users: bool, json_path: Path | None, junit_path: Path | None,
                  html_path: Path | None) -> None:
    """Play the runs, report them, and exit 0 when at least the required number passed."""
    from callprobe.analysis.repeat import RepeatRun, parse_require
    from callprobe.engine.repeat import run_repeated
    from callprobe.reporters.repeat import render_repeat, write_repeat_json, write_repeat_junit

    required = parse_require(require, times)
    err = Console(stderr=True)
    done = [0]

    def progress(run: RepeatRun) -> None:
        done[0] += 1
        verdict = run.result.verdict
        err.print(f"run {run.number}: {verdict} ({done[0]}/{times} done)",
                  style="green" if verdict == "pass" else "red", highlight=False)

    result = asyncio.run(run_repeated(scenario, times=times, parallel=parallel, required=required, ws_url=ws_url,
                                      api_url=api_url, keep_users=keep_users, on_run=progress))
    render_repeat(result, Console())
    if json_path:
        write_repeat_json(result, json_path)
    if junit_path:
        write_repeat_junit(result, junit_path)
    if html_path and result.runs:
        from callprobe.reporters.ladder import build_ladder, render_ladder_html

        shown = next((r for r in result.runs if r.result.verdict != "pass"), result.runs[0])
        ladder = build_ladder(shown.result.events, shown.result.findings)
        html_path.write_text(render_ladder_html(ladder, title=f"callprobe run {result.scenario}, run {shown.number}"))
    ctx = click.get_current_context()
    if result.unreachable:
        ctx.exit(int(ExitCode.SERVER_UNREACHABLE))
    ctx.exit(int(ExitCode.OK if result.verdict == "pass" else ExitCode.EXPECTATION_FAILED))

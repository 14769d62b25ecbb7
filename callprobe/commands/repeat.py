"""``callprobe run FILE --repeat N``: the repeated side of ``run`` (docs/load.md#repeat-and-flake-control)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from callprobe.errors import ExitCode
from callprobe.scenario.model import Scenario


def play_repeated(scenario: Scenario, *, times: int, require: str | None, parallel: int, ws_url: str | None,
                  api_url: str | None, keep_users: bool, json_path: Path | None, junit_path: Path | None,
                  html_path: Path | None, to_stdout: bool = False) -> None:
    """Play the runs, report them, and exit 0 when at least the required number passed.

    Outputs take ``-`` for standard output (the terminal report then goes to
    standard error); Ctrl-C or SIGTERM stop the runs and the reports hold
    the runs that ended (exit 130 or 143).
    """
    from callprobe.analysis.repeat import RepeatResult, RepeatRun, parse_require
    from callprobe.commands.checks import write_output
    from callprobe.commands.live import STOPPED_BY, run_until_signal
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

    result = RepeatResult(scenario.name, scenario.file, times, required, parallel)
    _, stopped = run_until_signal(run_repeated(scenario, times=times, parallel=parallel, required=required,
                                               ws_url=ws_url, api_url=api_url, keep_users=keep_users,
                                               on_run=progress, into=result))
    result.interrupted = stopped
    result.runs.sort(key=lambda r: r.number)
    render_repeat(result, Console(stderr=to_stdout))
    if json_path:
        write_output(json_path, lambda path: write_repeat_json(result, path))
    if junit_path:
        write_output(junit_path, lambda path: write_repeat_junit(result, path))
    if html_path and result.runs:
        from callprobe.reporters.html_report import run_html

        shown = next((r for r in result.runs if r.result.verdict != "pass"), result.runs[0])
        page = run_html(shown.result)
        write_output(html_path, lambda path: path.write_text(page))
    ctx = click.get_current_context()
    if stopped:
        ctx.exit(int(STOPPED_BY[stopped]))
    if result.unreachable:
        ctx.exit(int(ExitCode.SERVER_UNREACHABLE))
    ctx.exit(int(ExitCode.OK if result.verdict == "pass" else ExitCode.EXPECTATION_FAILED))

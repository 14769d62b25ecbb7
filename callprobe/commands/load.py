"""``callprobe load``: place many calls of one scenario, at once or at a rate (docs/load.md)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from callprobe.errors import ConfigError, ExitCode, exit_codes_epilog

#: Without --threshold, a load run passes as a run does: when every call passed.
DEFAULT_THRESHOLD = "failed==0"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|m))?\s*$")


def parse_duration(text: str, option: str) -> float:
    """``500ms``, ``30s``, ``5m``, ``1h`` or plain seconds, as seconds."""
    m = _DURATION.match(text)
    if not m:
        raise ConfigError(f"{option} {text!r} is not a duration", hint="write 500ms, 30s, 5m or 1h")
    return float(m[1]) * {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "h": 3600.0}[m[2]]


def parse_rate(text: str) -> float:
    """``20/s``, ``1200/m`` or a plain number of calls per second."""
    m = _RATE.match(text)
    if not m or float(m[1]) <= 0:
        raise ConfigError(f"--rate {text!r} is not a rate", hint="write new calls per second: 20/s (or 1200/m)")
    return float(m[1]) / (60.0 if m[2] == "m" else 1.0)


@click.command("load", epilog=exit_codes_epilog("load"))
@click.argument("scenario_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--pairs", type=click.IntRange(min=1), help="Closed model: this many calls at a time.")
@click.option("--rate", "rate_text", metavar="R/s", help="Open model: new calls per second (20/s, 1200/m).")
@click.option("--ramp", "ramp_text", metavar="DURATION", default="0s", show_default=True,
              help="Reach the full load over this time (pairs started evenly, or the rate rising from zero).")
@click.option("--duration", "duration_text", metavar="DURATION",
              help="How long new calls start. Default: closed model, one call per pair; open model, 1m.")
@click.option("--hold", "hold_text", metavar="DURATION",
              help="How long each call is held: every wait step of the scenario lasts this long.")
@click.option("--media", type=click.Choice(["none", "audio", "video"]),
              help="none: signaling only, no WebRTC; audio/video: every call with that media. "
                   "Default: as the scenario says.")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes (default: one per core; "
                                                            "with --ray, one per CPU of the cluster).")
@click.option("--threshold", "thresholds", multiple=True, metavar="EXPR",
              help="A pass/fail criterion, e.g. 'ring.p99<200ms', 'success>=99.5%', 'media.delivered>=95%'. "
                   "Repeatable. Default: 'failed==0' (every call passes).")
@click.option("--abort-on-fail", is_flag=True, help="Stop the run as soon as a threshold fails.")
@click.option("--server", "server_url", metavar="URL",
              help="Load this server instead of the embedded one (the URL --server takes in `run`).")
@click.option("--api", "api_url", metavar="API_URL", help="Auth API base URL of a KKIM --server.")
@click.option("--ray", "ray_address", metavar="auto|ADDRESS",
              help="Place the workers as Ray actors across a Ray cluster (pip install 'callprobe[ray]').")
@click.option("--grace", "grace_text", metavar="DURATION", default="30s", show_default=True,
              help="After the duration, calls in progress may finish within this time.")
@click.option("--max-active", type=click.IntRange(min=1), default=5000, show_default=True,
              help="Open model: calls one worker keeps going at once; arrivals beyond are dropped.")
@click.option("--keep-failed", type=click.IntRange(min=0), default=20, show_default=True,
              help="Timelines of failed calls kept in the JSON report (per worker).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the JSON summary here (docs/schemas/load-report.schema.json).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the time series here, one row per second.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write JUnit XML here (one test case per threshold).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a self-contained HTML page with charts over time.")
def command(scenario_file: Path, pairs: int | None, rate_text: str | None, ramp_text: str,
            duration_text: str | None, hold_text: str | None, media: str | None, workers: int | None,
            thresholds: tuple[str, ...], abort_on_fail: bool, server_url: str | None, api_url: str | None,
            ray_address: str | None, grace_text: str, max_active: int, keep_failed: int,
            json_path: Path | None, csv_path: Path | None, junit_path: Path | None, html_path: Path | None) -> None:
    """Place many calls of one scenario at once, or at a rate, and report percentiles and thresholds.

    FILE is an ordinary scenario whose agents and steps describe one call;
    every call is played by numbered users (alice-000001, ...).

    Exit codes: 0 every threshold held (without --threshold: every call
    passed); 1 a threshold failed (or a worker
    failed); 2 an option or a threshold is invalid; 3 the scenario file is
    invalid; 4 the server could not be reached; 130 interrupted; 143 terminated.
    """
    from callprobe.analysis.load.thresholds import parse_threshold
    from callprobe.commands.checks import check_output, check_server
    from callprobe.engine.load.controller import LoadController, default_workers
    from callprobe.engine.load.plan import LoadOptions
    from callprobe.scenario.loader import load_scenario

    if (pairs is None) == (rate_text is None):
        raise ConfigError("give one of --pairs N (calls at a time) or --rate R/s (new calls a second)")
    for path, option in ((json_path, "--json"), (csv_path, "--csv"), (junit_path, "--junit"), (html_path, "--html")):
        check_output(path, option)
    parsed = [parse_threshold(t) for t in thresholds or (DEFAULT_THRESHOLD,)]
    rate = parse_rate(rate_text) if rate_text is not None else None
    duration = parse_duration(duration_text, "--duration") if duration_text else (60.0 if rate else None)
    scenario = load_scenario(scenario_file)
    check_server(server_url, api_url, scenario.server.family)
    if server_url and (scenario.server.faults or scenario.server.ring_timeout_s is not None):
        raise ConfigError(f"{scenario.file}: server.faults and server.ring_timeout_s set the embedded server; "
                          "they cannot apply to --server")
    if ray_address is not None and workers is None:
        workers = 0  # one per CPU of the cluster, decided once Ray is joined
    options = LoadOptions(
        pairs=pairs, rate=rate, ramp_s=parse_duration(ramp_text, "--ramp"), duration_s=duration,
        hold_s=parse_duration(hold_text, "--hold") if hold_text else None, media=media or "scenario",
        workers=workers if workers is not None else default_workers(), grace_s=parse_duration(grace_text, "--grace"),
        max_active=max_active, keep_failed=keep_failed, thresholds=tuple(t.text for t in parsed),
        abort_on_fail=abort_on_fail,
        server=server_url, api=api_url, ray=ray_address,
    )

    from rich.console import Console

    from callprobe.reporters.load.console import LiveDashboard, PlainProgress, render_summary

    out = Console()
    view = LiveDashboard(out) if out.is_terminal else PlainProgress(sys.stdout)
    report = LoadController(scenario, options, parsed, view=view).run()
    render_summary(report, out)
    if json_path:
        from callprobe.reporters.load.files import write_json

        write_json(report, json_path)
    if csv_path:
        from callprobe.reporters.load.files import write_csv

        write_csv(report, csv_path)
    if junit_path:
        from callprobe.reporters.load.files import write_junit

        write_junit(report, junit_path)
    if html_path:
        from callprobe.reporters.load.html import write_html

        write_html(report, html_path)
    ctx = click.get_current_context()
    if report.unreachable:
        ctx.exit(int(ExitCode.SERVER_UNREACHABLE))
    if report.stop_reason.startswith("interrupted"):
        ctx.exit(int(ExitCode.INTERRUPTED))
    if report.stop_reason.startswith("terminated"):
        ctx.exit(int(ExitCode.TERMINATED))
    ctx.exit(int(ExitCode.OK if report.verdict == "pass" else ExitCode.EXPECTATION_FAILED))

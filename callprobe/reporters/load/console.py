"""The load run on the terminal: a live dashboard while it runs, then the summary.

``LiveDashboard`` redraws a rich panel once a second on a terminal;
``PlainProgress`` prints one line every few seconds when stdout is not a
terminal (CI logs). ``render_summary`` prints the final tables.
"""

from __future__ import annotations

import time
from typing import IO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from callprobe.analysis.load.records import FIGURES
from callprobe.analysis.load.report import LiveSnapshot, LoadReport
from callprobe.analysis.load.thresholds import format_value


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f} %"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


def dashboard(s: LiveSnapshot) -> Panel:
    grid = Table.grid(padding=(0, 2))
    for _ in range(4):
        grid.add_column()
    remaining = _clock(s.remaining_s) if s.duration_s is not None else "one call per pair"
    grid.add_row("elapsed", _clock(s.elapsed_s), "remaining", remaining)
    grid.add_row("active calls", str(s.active_calls), "active agents", str(s.active_agents))
    grid.add_row("offered", f"{s.offered_per_s:.1f} calls/s", "completed", f"{s.completed_per_s:.1f} calls/s")
    grid.add_row("calls", f"{s.completed} done, {s.failed} failed", "success", _pct(s.success))
    grid.add_row("time-to-ring", f"p50 {_ms(s.ring_p50_ms)}  p99 {_ms(s.ring_p99_ms)}", "ICE p95", _ms(s.ice_p95_ms))
    grid.add_row("media delivered", _pct(s.media_delivered), "dropped", str(s.dropped))
    parts: list[Table | Text] = [grid]
    if s.findings:
        parts.append(Text("errors by finding: " + ", ".join(f"{c} {n}" for c, n in s.findings), style="yellow"))
    for result in s.thresholds:
        mark = "✓" if result.passed else "✗"
        parts.append(Text(f"{mark} {result.threshold.text}  ({result.describe()})",
                          style="green" if result.passed else "red"))
    title = f"callprobe load · {s.model} model · {s.target} · {s.workers} workers · {s.phase}"
    return Panel(Group(*parts), title=title, expand=False)


class LiveDashboard:
    """A rich live panel, redrawn on each update."""

    def __init__(self, console: Console) -> None:
        self._live = Live(console=console, auto_refresh=False, transient=False)
        self._live.start()

    def update(self, snapshot: LiveSnapshot) -> None:
        self._live.update(dashboard(snapshot), refresh=True)

    def close(self) -> None:
        self._live.stop()


class PlainProgress:
    """One line every ``every_s`` seconds (and at the end), for logs."""

    def __init__(self, stream: IO[str], every_s: float = 5.0) -> None:
        self._stream = stream
        self._every = every_s
        self._last = -1e9
        self._phase = ""

    def update(self, s: LiveSnapshot) -> None:
        now = time.monotonic()
        if now - self._last < self._every and s.phase == self._phase:
            return
        self._last, self._phase = now, s.phase
        left = f"/{_clock(s.duration_s)}" if s.duration_s is not None else ""
        findings = (" | " + ", ".join(f"{c} {n}" for c, n in s.findings)) if s.findings else ""
        self._stream.write(
            f"[{_clock(s.elapsed_s)}{left} {s.phase}] active {s.active_calls} calls {s.active_agents} agents"
            f" | offered {s.offered_per_s:.1f}/s completed {s.completed_per_s:.1f}/s | done {s.completed}"
            f" failed {s.failed} ok {_pct(s.success)} | ring p50 {_ms(s.ring_p50_ms)} p99 {_ms(s.ring_p99_ms)}"
            f" | ICE p95 {_ms(s.ice_p95_ms)} | media {_pct(s.media_delivered)}{findings}\n")
        self._stream.flush()

    def close(self) -> None:
        return


def render_summary(report: LoadReport, console: Console) -> None:
    t = report.totals
    head = Table(title=f"load: {report.scenario} ({report.file})", show_header=False, title_justify="left")
    head.add_column(style="bold")
    head.add_column()
    opts = report.options
    load = f"{opts['pairs']} pairs (closed)" if opts["model"] == "closed" else f"{opts['rate']:g} calls/s (open)"
    head.add_row("load", f"{load}, ramp {opts['ramp_s']:g} s, media {opts['media']}, "
                         f"{opts['workers']} {opts['place']} workers")
    head.add_row("duration", f"{report.duration_s:.1f} s" + (f" — stopped: {report.stop_reason}"
                                                              if report.stop_reason else ""))
    head.add_row("calls", f"{t.started} started, {t.completed} completed: {t.passed} passed, {t.failed} failed; "
                          f"{t.interrupted} interrupted, {t.dropped} dropped")
    head.add_row("success", _pct(t.success_ratio))
    head.add_row("peak", f"{report.peak_active_calls} calls, {report.peak_active_agents} agents at once")
    lost = sum(t.notices_lost.values())
    head.add_row("notices lost", f"{lost}" + (f" ({dict(t.notices_lost)})" if lost else ""))
    if t.media:
        per_kind = ", ".join(f"{k} {_pct(t.delivered(k))} ({v[1]}/{v[0]})" for k, v in sorted(t.media.items()))
        head.add_row("media delivered", f"{_pct(t.delivered())}: {per_kind}; {t.poor_legs} of {t.legs} legs "
                                        "under 95 %")
    server = report.server
    cpu_workers = sum(float(w.get("cpu_s") or 0.0) for w in report.workers)
    cpu = f"workers {cpu_workers:.1f} s"
    if server.get("cpu_s") is not None:
        cpu += f", server {server['cpu_s']:.1f} s"
    head.add_row("CPU", cpu)
    kept = report.kept_counts
    head.add_row("timelines kept", f"{kept.get('failed_kept', 0)} of {kept.get('failed_total', 0)} failed calls, "
                                   f"{kept.get('good_kept', 0)} good ones (sampled)")
    for note in report.notes:
        head.add_row("note", note)
    console.print(head)

    figures = Table(title="per-call figures (ms)", title_justify="left")
    for col in ("figure", "count", "p50", "p90", "p95", "p99", "max"):
        figures.add_column(col, justify="left" if col == "figure" else "right")
    for name in FIGURES:
        h = t.figure(name)
        if not h.count:
            continue
        figures.add_row(name, str(h.count), *(f"{h.percentile_ms(p) or 0:.1f}" for p in (50, 90, 95, 99)),
                        f"{h.max_ms() or 0:.1f}")
    console.print(figures)
    if t.findings or t.failures:
        issues = Table(title="failures", title_justify="left")
        issues.add_column("what")
        issues.add_column("calls", justify="right")
        for code, n in t.findings.most_common(10):
            issues.add_row(f"finding {code}", str(n))
        for reason, n in t.failures.most_common(5):
            issues.add_row(reason, str(n))
        console.print(issues)
    if report.thresholds:
        th = Table(title="thresholds", title_justify="left")
        th.add_column("")
        th.add_column("threshold")
        th.add_column("observed", justify="right")
        for result in report.thresholds:
            th.add_row("[green]✓[/]" if result.passed else "[red]✗[/]", result.threshold.text,
                       format_value(result.observed, result.threshold.kind))
        console.print(th)
    for error in report.errors:
        console.print(f"[red]error:[/] {error}")
    console.print(f"verdict: {'[green]pass[/]' if report.verdict == 'pass' else '[red]fail[/]'}")

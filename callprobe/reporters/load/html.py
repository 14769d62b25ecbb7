"""The load run as one self-contained HTML page: charts over time as inline SVG.

No script, no style sheet or font from elsewhere: the page reads the same
without a network connection. Charts: calls per second (offered, completed),
active calls, time-to-ring p50 and p99, failures per second; then the
figures, thresholds and failures tables.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from callprobe.analysis.load.records import FIGURES
from callprobe.analysis.load.report import LoadReport
from callprobe.analysis.load.thresholds import format_value

WIDTH, HEIGHT, PAD = 640, 180, 36
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def line_chart(title: str, xs: Sequence[float], lines: dict[str, Sequence[float | None]], unit: str = "") -> str:
    """An SVG chart of ``lines`` (name -> values, one per x; ``None`` leaves a gap)."""
    values = [v for ys in lines.values() for v in ys if v is not None]
    top = max(values, default=0.0) or 1.0
    right = max(xs, default=1.0) or 1.0
    w, h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD

    def pos(x: float, y: float) -> str:
        return f"{PAD + w * x / right:.1f},{PAD + h - h * y / top:.1f}"

    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
              f'aria-label="{html.escape(title)}">'),
             f'<text x="{PAD}" y="16" font-size="13" font-family="sans-serif">{html.escape(title)}</text>',
             f'<line x1="{PAD}" y1="{PAD + h}" x2="{PAD + w}" y2="{PAD + h}" stroke="#999"/>',
             f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{PAD + h}" stroke="#999"/>',
             f'<text x="2" y="{PAD + 4}" font-size="10" font-family="sans-serif">{top:.4g}{html.escape(unit)}</text>',
             f'<text x="{PAD + w - 20}" y="{HEIGHT - 8}" font-size="10" font-family="sans-serif">{right:.0f} s</text>']
    for i, (name, ys) in enumerate(lines.items()):
        colour = COLOURS[i % len(COLOURS)]
        segments: list[list[str]] = [[]]
        for x, y in zip(xs, ys, strict=False):
            if y is None:
                segments.append([])
            else:
                segments[-1].append(pos(x, y))
        for seg in segments:
            if len(seg) == 1:
                cx, cy = seg[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{colour}"/>')
            elif seg:
                parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{" ".join(seg)}"/>')
        parts.append(f'<text x="{PAD + 10 + 120 * i}" y="{HEIGHT - 8}" font-size="11" font-family="sans-serif" '
                     f'fill="{colour}">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["<table><tr>", *(f"<th>{html.escape(h)}</th>" for h in head), "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
    out.append("</table>")
    return "".join(out)


def render_load_html(report: LoadReport) -> str:
    series = report.series
    xs = [float(r["second"]) for r in series]
    t = report.totals
    charts = [
        line_chart("calls per second", xs, {"offered": [r["offered"] for r in series],
                                            "completed": [r["completed"] for r in series]}),
        line_chart("active calls", xs, {"active calls": [r["active_calls"] for r in series]}),
        line_chart("time-to-ring (calls ending each second)", xs,
                   {"p50": [r["ring_p50_ms"] for r in series], "p99": [r["ring_p99_ms"] for r in series]}, " ms"),
        line_chart("failures per second", xs, {"failed": [r["failed"] for r in series],
                                               "notices lost": [r["notices_lost"] for r in series]}),
    ]
    figures: list[tuple[Any, ...]] = [
        (name, h.count, *(f"{h.percentile_ms(p) or 0:.1f}" for p in (50, 95, 99)), f"{h.max_ms() or 0:.1f}")
        for name in FIGURES if (h := t.figure(name)).count]
    thresholds = [("pass" if r.passed else "FAIL", r.threshold.text, format_value(r.observed, r.threshold.kind))
                  for r in report.thresholds]
    failures = [(f"finding {c}", n) for c, n in t.findings.most_common(10)] + t.failures.most_common(10)
    opts = report.options
    delivered = t.delivered()
    load = f"{opts['pairs']} pairs (closed model)" if opts["model"] == "closed" else f"{opts['rate']:g} calls/s (open)"
    summary = [
        ("scenario", f"{report.scenario} ({report.file}), backend {report.backend}"),
        ("load", f"{load}, ramp {opts['ramp_s']:g} s, media {opts['media']}, {opts['workers']} workers"),
        ("duration", f"{report.duration_s:.1f} s" + (f", stopped: {report.stop_reason}" if report.stop_reason else "")),
        ("calls", f"{t.completed} completed, {t.passed} passed, {t.failed} failed, {t.dropped} dropped"),
        ("success", "-" if t.success_ratio is None else f"{t.success_ratio * 100:.2f} %"),
        ("media delivered", "-" if delivered is None else f"{delivered * 100:.2f} %"),
        ("verdict", report.verdict),
    ]
    style = ("body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}svg{display:block;margin:1em 0}")
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>callprobe load {html.escape(report.scenario)}</title><style>{style}</style></head><body>",
        f"<h1>callprobe load: {html.escape(report.scenario)}</h1>",
        _table(("", ""), summary),
        *charts,
        "<h2>Per-call figures (ms)</h2>", _table(("figure", "count", "p50", "p95", "p99", "max"), figures),
        *(["<h2>Thresholds</h2>", _table(("", "threshold", "observed"), thresholds)] if thresholds else []),
        *(["<h2>Failures</h2>", _table(("what", "calls"), failures)] if failures else []),
        "<h2>Notes</h2>", "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in report.notes
                                           + [f"{k}: {v}" for k, v in report.measured.items()]) + "</ul>",
        "</body></html>",
    ])


def write_html(report: LoadReport, path: Any) -> None:
    from pathlib import Path

    Path(path).write_text(render_load_html(report))

"""The ladder diagram as one self-contained HTML page.

Inline CSS and SVG only: no scripts, fonts or images from anywhere, so the
page opens from a CI artifact or an e-mail attachment as it is. Every arrow
is an SVG ``<line class="arrow">`` with a ``<title>`` tooltip (time, ends,
label, and the findings on it); a finding colours its arrow, puts a numbered
badge in the right margin that links to its entry in the legend below, and
the legend gives the title, what happened, the fix hint and the evidence.
All text from the timeline is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from json import dumps

from callprobe.analysis.diagnostics.findings import Finding, Severity
from callprobe.reporters.ladder.model import (
    ERROR,
    MEDIA,
    MISSING,
    NOTE,
    PUSH,
    QUIET,
    REPLY,
    REQUEST,
    STEP,
    Ladder,
    LadderRow,
)

TIME_W = 84
COL_W = 240            # column width for up to four columns; more columns share LADDER_W
LADDER_W = 1040
MIN_COL_W = 160
ROW_H = 28
HEAD_H = 54
BADGE_W = 250
CHAR_W = 6.7           # monospace 11px, for fitting labels between lifelines

COLOURS = {
    REQUEST: "#1f6feb", REPLY: "#2da44e", PUSH: "#8250df", ERROR: "#cf222e",
    MEDIA: "#1a7f37", QUIET: "#8c959f", NOTE: "#9a6700", STEP: "#0550ae", MISSING: "#cf222e",
}
#: A silence at least this long between two rows gets room and a label with its length.
GAP_MS = 1000.0
GAP_H = 22
SEVERITY_COLOUR = {Severity.ERROR: "#cf222e", Severity.WARNING: "#bf8700", Severity.INFO: "#0969da"}
STYLE_WORDS = {
    REQUEST: "request from an agent", REPLY: "reply to a request", PUSH: "push or notice from the gateway",
    MEDIA: "WebRTC, agent to agent", QUIET: "heartbeat or requested close", ERROR: "refusal or failure",
    STEP: "walk step", NOTE: "note", MISSING: "expected, never arrived (dashed)",
}


@dataclass(frozen=True)
class Check:
    """One expectation of a run, or one link of a walk, as the page lists it."""

    text: str
    passed: bool
    detail: str = ""
    t_ms: float | None = None

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1f2328; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
.summary { color: #57606a; margin: 0 0 16px; }
.first { padding: 8px 12px; border-left: 4px solid #cf222e; background: #ffebe9; margin: 0 0 16px; }
.ok { padding: 8px 12px; border-left: 4px solid #2da44e; background: #dafbe1; margin: 0 0 16px; }
svg { display: block; }
svg text { font: 11px ui-monospace, 'DejaVu Sans Mono', monospace; }
svg .col-label { font: bold 13px system-ui, sans-serif; }
svg .time { fill: #57606a; }
svg .lifeline { stroke: #d0d7de; stroke-width: 2; }
svg .col-box { fill: #f6f8fa; stroke: #d0d7de; }
svg .arrow { stroke-width: 2; }
svg .direct { stroke-dasharray: 7 4; }
svg .quiet { stroke-dasharray: 2 3; }
svg .missing { stroke-dasharray: 4 4; }
svg .gap { fill: #57606a; font-style: italic; }
.failed { padding: 8px 12px; border-left: 4px solid #cf222e; background: #ffebe9; margin: 0 0 16px; }
.failed ul { margin: 4px 0 0; padding-left: 20px; }
.checks li.pass::marker { content: "✓ "; color: #1a7f37; }
.checks li.fail::marker { content: "✗ "; color: #cf222e; }
svg .row-hl { fill: #ffebe9; }
svg .row-hl-warning { fill: #fff8c5; }
svg .badge text { font: bold 11px system-ui, sans-serif; fill: #fff; }
.findings li { margin: 0 0 12px; }
.code { font: bold 13px ui-monospace, monospace; padding: 1px 6px; border-radius: 4px; color: #fff; }
.sev-error .code { background: #cf222e; } .sev-warning .code { background: #bf8700; }
.sev-info .code { background: #0969da; }
.detail { color: #57606a; } .hint { margin-top: 2px; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; font-size: 12px; }
.key span { display: inline-block; margin-right: 16px; }
.key i { display: inline-block; width: 22px; height: 3px; vertical-align: middle; margin-right: 6px; }
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _fit(text: str, px: float) -> str:
    room = int(px / CHAR_W)
    return text if len(text) <= room else text[:max(0, room - 1)] + "…"


def _row_title(row: LadderRow, names: dict[str, str]) -> str:
    ends = names.get(row.src, row.src) if row.is_note else \
        f"{names.get(row.src, row.src)} → {names.get(row.dst, row.dst)}"
    lines = [f"{row.t_ms:.1f} ms  {ends}: {row.label}"]
    for f in row.findings:
        lines.append(f"{f.code} ({f.severity.value}): {f.title}")
        if f.detail:
            lines.append(f"  {f.detail}")
        lines.append(f"  hint: {f.hint}")
    return "\n".join(lines)


def _worst(findings: tuple[Finding, ...]) -> Severity | None:
    for sev in (Severity.ERROR, Severity.WARNING, Severity.INFO):
        if any(f.severity is sev for f in findings):
            return sev
    return None


def column_width(n: int) -> int:
    """Pixels per column: roomy for a call, narrower for many devices, never unreadable."""
    return max(MIN_COL_W, min(COL_W, LADDER_W // max(1, n)))


def _svg(ladder: Ladder, number: dict[int, int]) -> str:
    cols = ladder.columns
    cw = column_width(len(cols))
    centers = {c.key: TIME_W + k * cw + cw // 2 for k, c in enumerate(cols)}
    names = {c.key: c.label for c in cols}
    width = TIME_W + len(cols) * cw + BADGE_W
    ys, gaps = _layout(ladder)
    height = (ys[-1] + ROW_H if ys else HEAD_H) + 16
    out: list[str] = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="ladder diagram">'),
        "<defs>",
    ]
    for style, colour in COLOURS.items():
        out.append(f'<marker id="head-{style}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="5" '
                   f'markerHeight="5" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
                   f'fill="{colour}"/></marker>')
    out.append("</defs>")
    out.append(f'<text class="time" x="{TIME_W - 10}" y="{HEAD_H - 22}" text-anchor="end">t (ms)</text>')
    for c in cols:
        x = centers[c.key]
        out.append(f'<rect class="col-box" x="{x - cw // 2 + 10}" y="8" width="{cw - 20}" '
                   f'height="28" rx="6"/>')
        out.append(f'<text class="col-label" x="{x}" y="27" text-anchor="middle">'
                   f'{_e(_fit(c.label, cw - 30))}<title>{_e(c.label)}</title></text>')
        out.append(f'<line class="lifeline" x1="{x}" y1="36" x2="{x}" y2="{height - 8}"/>')
    for y, ms in gaps:
        out.append(f'<text class="gap" x="{TIME_W - 10}" y="{y}" text-anchor="end">⋮</text>'
                   f'<text class="gap" x="{TIME_W + 6}" y="{y}">{_e(_gap_words(ms))}</text>')
    for n, row in enumerate(ladder.rows):
        y = ys[n]
        worst = _worst(row.findings)
        if worst is not None:
            hl = "row-hl" if worst is Severity.ERROR else "row-hl-warning"
            out.append(f'<rect class="{hl}" x="{TIME_W - 4}" y="{y - ROW_H // 2 - 4}" '
                       f'width="{len(cols) * cw + 8}" height="{ROW_H}" rx="4"/>')
        when = "never" if row.missing else f"{row.t_ms:.1f}"
        out.append(f'<text class="time" x="{TIME_W - 10}" y="{y + 4}" '
                   f'text-anchor="end">{when}</text>')
        colour = SEVERITY_COLOUR[worst] if worst is not None else COLOURS.get(row.style, "#57606a")
        head = ERROR if worst is Severity.ERROR else row.style
        classes = f"row style-{row.style}" + (f" finding-{worst.value}" if worst else "")
        out.append(f'<g class="{_e(classes)}" id="row-{n}"><title>{_e(_row_title(row, names))}</title>')
        x1, x2 = centers[row.src], centers[row.dst]
        if row.is_note:
            out.append(f'<circle class="note" cx="{x1}" cy="{y}" r="5" fill="{colour}"/>')
            last = row.src == cols[-1].key  # keep clear of the badges on the right
            out.append(f'<text x="{x1 + 10}" y="{y + 4}" fill="{colour}">'
                       f'{_e(_fit(row.label, cw / 2 - 14 if last else cw * 0.9))}</text>')
        else:
            extra = (" missing" if row.missing else " direct" if row.direct
                     else " quiet" if row.style == QUIET else "")
            end = x2 - 6 if x2 > x1 else x2 + 6
            out.append(f'<line class="arrow{extra}" x1="{x1}" y1="{y}" x2="{end}" y2="{y}" '
                       f'stroke="{colour}" marker-end="url(#head-{head})"/>')
            out.append(f'<text x="{(x1 + x2) / 2:.1f}" y="{y - 5}" text-anchor="middle" fill="{colour}">'
                       f'{_e(_fit(row.label, abs(x2 - x1) - 16))}</text>')
        out.append("</g>")
        bx = TIME_W + len(cols) * cw + 16
        for f in row.findings:  # numbered badges side by side, then the codes once
            k = number[id(f)]
            out.append(f'<a href="#finding-{k}"><g class="badge badge-{f.severity.value}">'
                       f'<title>{_e(f.code)}: {_e(f.title)}</title>'
                       f'<circle cx="{bx}" cy="{y}" r="10" fill="{SEVERITY_COLOUR[f.severity]}"/>'
                       f'<text x="{bx}" y="{y + 4}" text-anchor="middle">{k}</text></g></a>')
            bx += 24
        if row.findings and worst is not None:
            codes = " ".join(dict.fromkeys(f.code for f in row.findings))
            out.append(f'<text class="finding-code" x="{bx - 8}" y="{y + 4}" '
                       f'fill="{SEVERITY_COLOUR[worst]}">{_e(_fit(codes, width - bx))}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _gap_words(ms: float) -> str:
    return f"{ms / 1000:.1f} s later" if ms >= 1000 else f"{ms:.0f} ms later"


def _layout(ladder: Ladder) -> tuple[list[int], list[tuple[int, float]]]:
    """Each row's y, and the gaps (y of the label, length in ms) where the run was silent."""
    ys: list[int] = []
    gaps: list[tuple[int, float]] = []
    y = HEAD_H + ROW_H // 2 + 4
    previous: float | None = None
    for row in ladder.rows:
        if previous is not None and not row.missing and row.t_ms - previous >= GAP_MS:
            gaps.append((y + 2, row.t_ms - previous))
            y += GAP_H
        if not row.missing:
            previous = row.t_ms
        ys.append(y)
        y += ROW_H
    return ys, gaps


def _checks(checks: Sequence[Check]) -> tuple[str, str]:
    """The banner of failed checks (empty when none failed) and the list of every check."""
    failed = [c for c in checks if not c.passed]
    banner = ""
    if failed:
        items = "".join(f"<li>{_e(c.text)}" + (f" — {_e(c.detail)}" if c.detail else "") + "</li>" for c in failed)
        banner = (f'<div class="failed"><b>{len(failed)} of {len(checks)} checks failed</b>'
                  f"<ul>{items}</ul></div>")
    rows = "".join(f'<li class="{"pass" if c.passed else "fail"}">{_e(c.text)}'
                   + (f' <span class="detail">{_e(c.detail)}</span>' if c.detail else "") + "</li>"
                   for c in checks)
    return banner, f'<section class="checks"><h2>Checks</h2><ul>{rows}</ul></section>'


def _legend(ladder: Ladder, number: dict[int, int]) -> str:
    if not ladder.findings:
        return '<p class="ok">No findings: every link the run exercised worked.</p>'
    items: list[str] = []
    for f in ladder.findings:
        k = number[id(f)]
        when = "" if f.at_ms is None else f" at {f.at_ms:.1f} ms"
        who = f" ({_e(f.agent)})" if f.agent else ""
        evidence = "\n".join(dumps(e.to_json(), ensure_ascii=False, default=str) for e in f.evidence)
        items.append(
            f'<li id="finding-{k}" class="sev-{f.severity.value}"><span class="code">{_e(f.code)}</span> '
            f'<b>{_e(f.title)}</b>{_e(when)}{who} <small>[{_e(f.severity.value)}, link {_e(f.link)}]</small>'
            + (f'<div class="detail">{_e(f.detail)}</div>' if f.detail else "")
            + f'<div class="hint">Hint: {_e(f.hint)}</div>'
            + (f"<details><summary>evidence ({len(f.evidence)} "
               f"event{'s' if len(f.evidence) != 1 else ''})</summary>"
               f"<pre>{_e(evidence)}</pre></details>" if f.evidence else "")
            + "</li>")
    return '<section class="findings"><h2>Findings</h2><ol>' + "".join(items) + "</ol></section>"


def _key() -> str:
    parts = [f'<span><i style="background:{COLOURS[s]}"></i>{_e(w)}</span>' for s, w in STYLE_WORDS.items()]
    return '<p class="key">' + "".join(parts) + "</p>"


def render_ladder_html(ladder: Ladder, title: str = "callprobe ladder", checks: Sequence[Check] = ()) -> str:
    """A complete HTML document showing ``ladder``; no external assets, no scripts.

    ``checks`` (a run's expectations, a walk's links) are counted in the
    summary, listed under the ladder, and the failed ones repeated in a banner
    at the top: a failing run never reads "0 errors".
    """
    number = {id(f): k for k, f in enumerate(ladder.findings, start=1)}
    duration = max((r.t_ms for r in ladder.rows), default=0.0)
    counts = {s: sum(f.severity is s for f in ladder.findings) for s in Severity}
    failed = sum(not c.passed for c in checks)
    summary = (f"{len(ladder.columns)} columns, {len(ladder.arrows)} arrows, {duration:.1f} ms; "
               + (f"{failed} of {len(checks)} checks failed; " if checks else "")
               + f"{counts[Severity.ERROR]} error finding(s), {counts[Severity.WARNING]} warning(s), "
               f"{counts[Severity.INFO]} info")
    banner, listing = _checks(checks) if checks else ("", "")
    first = ""
    if ladder.first_broken is not None:
        f = ladder.first_broken
        first = (f'<p class="first">First broken link: <b>{_e(f.link)}</b> — '
                 f'<a href="#finding-{number[id(f)]}"><span class="code" style="background:#cf222e">'
                 f'{_e(f.code)}</span></a> {_e(f.title)}</p>')
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1><p class=\"summary\">{_e(summary)}</p>{banner}{first}"
        f"{_svg(ladder, number)}{_key()}{_legend(ladder, number)}{listing}</body></html>\n"
    )

"""The ladder drawn for a terminal with rich: box-drawing lifelines, one line per row."""

from __future__ import annotations

import io

from rich.console import Console, Group, RenderableType
from rich.text import Text

from callprobe.analysis.diagnostics.findings import Severity
from callprobe.reporters.ladder.model import (
    ERROR,
    MEDIA,
    NOTE,
    PUSH,
    QUIET,
    REPLY,
    REQUEST,
    STEP,
    Ladder,
    LadderRow,
)

_STYLE = {REQUEST: "cyan", REPLY: "green", PUSH: "magenta", ERROR: "bold red", MEDIA: "bold green",
          QUIET: "dim", NOTE: "yellow", STEP: "bold blue"}
_LINE = {MEDIA: "═", QUIET: "┄"}
_MARK = {Severity.ERROR: ("✖", "bold red"), Severity.WARNING: ("▲", "yellow"), Severity.INFO: ("ℹ", "blue")}
TIME_WIDTH = 10
NOTE_OVERFLOW = 16     # a note may run this far past the last lifeline


def _geometry(ladder: Ladder, width: int) -> tuple[int, dict[str, int]]:
    n = max(1, len(ladder.columns))
    cw = max(16, min(40, (width - TIME_WIDTH - 16) // n))
    centers = {c.key: TIME_WIDTH + k * cw + cw // 2 for k, c in enumerate(ladder.columns)}
    return cw, centers


def _fit(text: str, room: int) -> str:
    if room <= 0:
        return ""
    return text if len(text) <= room else text[:max(0, room - 1)] + "…"


def _row_text(row: LadderRow, total: int, centers: dict[str, int]) -> Text:
    chars = [" "] * (total + NOTE_OVERFLOW if row.is_note else total)
    for x in centers.values():
        chars[x] = "│"
    spans: list[tuple[int, int, str]] = []
    style = _STYLE.get(row.style, "")
    x1, x2 = centers.get(row.src, 0), centers.get(row.dst, 0)
    if row.is_note:
        chars[x1] = "●"
        label = _fit(row.label, len(chars) - x1 - 2)
        chars[x1 + 2:x1 + 2 + len(label)] = list(label)
        spans.append((x1, x1 + 2 + len(label), style))
    else:
        lo, hi = sorted((x1, x2))
        line = _LINE.get(row.style, "─")
        for x in range(lo + 1, hi):
            chars[x] = line
        chars[x1] = "├" if x2 > x1 else "┤"
        if x2 > x1:
            chars[x2 - 1] = "▶"
        else:
            chars[x2 + 1] = "◀"
        label = _fit(f" {row.label} ", hi - lo - 4)
        if label.strip():
            start = lo + 2 + (hi - lo - 3 - len(label)) // 2
            chars[start:start + len(label)] = list(label)
        spans.append((lo, hi + 1, style))
    text = Text("".join(chars).rstrip() if row.is_note else "".join(chars), style="dim")
    for a, b, s in spans:
        text.stylize(s, a, b)
    return text


def render_ladder(ladder: Ladder, width: int = 120) -> RenderableType:
    """The ladder for a rich console: header, one line per row, then the findings."""
    cw, centers = _geometry(ladder, width)
    total = TIME_WIDTH + cw * max(1, len(ladder.columns))
    header = Text(" " * total)
    head_chars = [" "] * total
    head_chars[0:6] = list("t (ms)")
    for c in ladder.columns:
        label = _fit(c.label, cw - 1)
        start = max(TIME_WIDTH, centers[c.key] - len(label) // 2)
        head_chars[start:start + len(label)] = list(label)
    header = Text("".join(head_chars), style="bold")
    lines: list[Text] = [header]
    for row in ladder.rows:
        line = Text(f"{row.t_ms:>8.1f}  ", style="dim")
        line.append_text(_row_text(row, total, centers)[TIME_WIDTH:])
        for sev, code in dict.fromkeys((f.severity, f.code) for f in row.findings):
            mark, style = _MARK[sev]
            line.append(f" {mark} {code}", style=style)
        lines.append(line)
    body = Text("\n").join(lines)
    legend = _legend(ladder)
    return Group(body, *legend)


def _legend(ladder: Ladder) -> list[Text]:
    if not ladder.findings:
        return [Text("\nno findings", style="green")]
    out: list[Text] = [Text("")]
    if ladder.first_broken is not None:
        f = ladder.first_broken
        out.append(Text(f"first broken link: {f.link} — {f.code}: {f.title}", style="bold red"))
    for f in ladder.findings:
        mark, style = _MARK[f.severity]
        when = "" if f.at_ms is None else f" at {f.at_ms:.1f} ms"
        who = f" ({f.agent})" if f.agent else ""
        line = Text(f"{mark} {f.code}", style=style)
        line.append(f"{when}{who}: {f.title}")
        if f.detail:
            line.append(f" — {f.detail}", style="dim")
        out.append(line)
        out.append(Text(f"    hint: {f.hint}", style="italic"))
    return out


def render_ladder_text(ladder: Ladder, width: int = 120) -> str:
    """The terminal ladder as plain text (no colour), e.g. for a log file."""
    buf = io.StringIO()
    Console(file=buf, width=width + 40, color_system=None, force_terminal=False,
            soft_wrap=True).print(render_ladder(ladder, width))
    return buf.getvalue()

"""The ladder drawn for a terminal with rich: box-drawing lifelines, one line per row.

The layout is made for the width it is given: the time column, one column per
party and a margin for the finding marks all fit, so no line wraps (labels
are shortened with "…" instead). A silence of a second or more between two
rows is drawn as a gap line with its length, so a 6 s wait does not look as
short as a 1 ms step. An arrow a finding expected and that never happened is
dashed and marked, with "never" in the time column.
"""

from __future__ import annotations

import io

from rich.console import Console, Group, RenderableType
from rich.text import Text

from callprobe.analysis.diagnostics.findings import Severity
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

_STYLE = {REQUEST: "cyan", REPLY: "green", PUSH: "magenta", ERROR: "bold red", MEDIA: "bold green",
          QUIET: "dim", NOTE: "yellow", STEP: "bold blue", MISSING: "bold red"}
_LINE = {MEDIA: "═", QUIET: "┄", MISSING: "╌"}
_MARK = {Severity.ERROR: ("✖", "bold red"), Severity.WARNING: ("▲", "yellow"), Severity.INFO: ("ℹ", "blue")}
TIME_WIDTH = 10
MIN_COLUMN = 12
MAX_COLUMN = 40
#: A silence at least this long between two rows gets a gap line with its length.
GAP_MS = 1000.0


def _marks(row: LadderRow) -> list[tuple[str, str]]:
    return [(f"{_MARK[sev][0]} {code}", _MARK[sev][1])
            for sev, code in dict.fromkeys((f.severity, f.code) for f in row.findings)]


def _marks_width(ladder: Ladder) -> int:
    longest = max((len(" ".join(m for m, _ in _marks(r))) for r in ladder.rows if r.findings), default=0)
    return min(26, longest + 1) if longest else 0


def _geometry(ladder: Ladder, width: int) -> tuple[int, dict[str, int]]:
    n = max(1, len(ladder.columns))
    cw = max(MIN_COLUMN, min(MAX_COLUMN, (width - TIME_WIDTH - _marks_width(ladder)) // n))
    centers = {c.key: TIME_WIDTH + k * cw + cw // 2 for k, c in enumerate(ladder.columns)}
    return cw, centers


def _fit(text: str, room: int) -> str:
    if room <= 0:
        return ""
    return text if len(text) <= room else text[:max(0, room - 1)] + "…"


def _row_text(row: LadderRow, total: int, centers: dict[str, int], room: int) -> Text:
    """The row from the first lifeline on; a note's label may use ``room`` characters in all."""
    chars = [" "] * total
    for x in centers.values():
        chars[x] = "│"
    spans: list[tuple[int, int, str]] = []
    style = _STYLE.get(row.style, "")
    x1, x2 = centers.get(row.src, 0), centers.get(row.dst, 0)
    if row.is_note:
        chars[x1] = "●"
        label = _fit(row.label, room - x1 - 2)
        if x1 + 2 + len(label) > len(chars):
            chars.extend([" "] * (x1 + 2 + len(label) - len(chars)))
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


def _gap(ms: float, total: int, centers: dict[str, int]) -> Text:
    chars = [" "] * total
    for x in centers.values():
        chars[x] = "┆"
    words = f"{ms / 1000:.1f} s later" if ms >= 1000 else f"{ms:.0f} ms later"
    # the words go right of the last lifeline when they fit in the width, else in the time column
    start = max(centers.values(), default=TIME_WIDTH) + 3
    if start + len(words) > total:
        short = f"+{ms / 1000:.1f} s" if ms >= 1000 else f"+{ms:.0f} ms"
        return Text(f"{short:>{TIME_WIDTH - 2}}  " + "".join(chars)[TIME_WIDTH:].rstrip(), style="italic dim")
    line = Text(f"{'⋮':>8}  ", style="dim")
    line.append("".join(chars)[TIME_WIDTH:start].rstrip().ljust(start - TIME_WIDTH), style="dim")
    line.append(words, style="italic dim")
    return line


def render_ladder(ladder: Ladder, width: int = 120, legend: bool = True) -> RenderableType:
    """The ladder for a rich console: header, one line per row, each at most ``width`` wide.

    Args:
        legend: also list the findings under the ladder (for a ladder on its
            own, e.g. ``ladder.txt``); the command reports print one findings
            section of their own instead.
    """
    cw, centers = _geometry(ladder, width)
    total = TIME_WIDTH + cw * max(1, len(ladder.columns))
    head_chars = [" "] * total
    head_chars[0:6] = list("t (ms)")
    for c in ladder.columns:
        label = _fit(c.label, cw - 1)
        start = max(TIME_WIDTH, centers[c.key] - len(label) // 2)
        head_chars[start:start + len(label)] = list(label)
    lines: list[Text] = [Text("".join(head_chars).rstrip(), style="bold")]
    previous: float | None = None
    for row in ladder.rows:
        if previous is not None and not row.missing and row.t_ms - previous >= GAP_MS:
            lines.append(_gap(row.t_ms - previous, total, centers))
        if not row.missing:
            previous = row.t_ms
        marks = _marks(row)
        used = sum(len(m) + 1 for m, _ in marks)
        when = "   never" if row.missing else f"{row.t_ms:>8.1f}"
        line = Text(f"{when}  ", style="bold red" if row.missing else "dim")
        room = width - used if row.is_note else total
        body = _row_text(row, total, centers, room)[TIME_WIDTH:]
        line.append_text(body)
        left = width - len(line.plain)
        for mark, style in marks:
            piece = _fit(f" {mark}", left)
            if not piece:
                break
            line.append(piece, style=style)
            left -= len(piece)
        line.no_wrap = True
        line.overflow = "crop"
        lines.append(line)
    body_text = Text("\n").join(lines)
    body_text.no_wrap = True
    body_text.overflow = "crop"
    return Group(body_text, *(_legend(ladder) if legend else ()))


def _legend(ladder: Ladder) -> list[Text]:
    if not ladder.findings:
        return [Text("\nno findings", style="green")]
    out: list[Text] = [Text("")]
    if ladder.first_broken is not None:
        f = ladder.first_broken
        out.append(Text(f"first broken link: {f.link} ({f.code})", style="bold red"))
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
    """The terminal ladder as plain text (no colour), with its findings, e.g. for a log file."""
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, force_terminal=False,
            soft_wrap=False).print(render_ladder(ladder, width))
    return buf.getvalue()

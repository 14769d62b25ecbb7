"""Who may read a conversation: a pair's messages must stay the pair's when conversation IDs collide.

A single chat's ID is ``si_`` + the two user IDs sorted and joined by ``_``
(``docs/backends/kkim.md#conversation-ids``), so (a, b_c) and (a_b, c) both
make ``si_a_b_c``. The walk's conversation-leak probe (``analysis.diagnostics.links``,
KKIM) has ``a`` send ``b_c`` a text and ``c`` pull that ID; a pulled message
between ``a`` and ``b_c`` means the server decided membership from the ID
string, not from the stored pair (CONVERSATION_LEAK). A probe that could
not run is no finding.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from callprobe.analysis.diagnostics import findings as F
from callprobe.analysis.diagnostics.findings import Finding, make_finding
from callprobe.analysis.diagnostics.links import STEP_CONVERSATION_LEAK, Link
from callprobe.analysis.diagnostics.rules.registry import rule
from callprobe.analysis.diagnostics.view import TimelineView


def _pairs(value: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for pair in value if isinstance(value, list) else []:
        if isinstance(pair, (list, tuple)) and len(pair) == 2:
            out.append((str(pair[0]), str(pair[1])))
    return out


@rule("conversation_leak", Link.HISTORY)
def rule_conversation_leak(v: TimelineView) -> Iterator[Finding]:
    """A user of one pair pulled a message between the users of another pair with the same conversation ID."""
    for _, fin in v.step_results(STEP_CONVERSATION_LEAK):
        pairs = _pairs(fin.extra.get("pairs"))
        if len(pairs) != 2:
            continue
        (a, b), (x, y) = pairs
        pulled = fin.extra.get("pulled")
        leaked = [m for m in (pulled if isinstance(pulled, list) else [])
                  if isinstance(m, dict) and {str(m.get("send_id")), str(m.get("recv_id"))} == {a, b}]
        if not leaked:
            continue
        conv = str(fin.extra.get("conversation") or "?")
        reader = str(fin.extra.get("reader") or y)
        first = leaked[0]
        said = f": {str(first.get('text'))!r}" if first.get("text") else ""
        yield make_finding(
            F.CONVERSATION_LEAK, (fin,), agent=fin.agent,
            detail=f"the pairs ({a}, {b}) and ({x}, {y}) share the conversation ID {conv}; {reader} pulled it "
                   f"and got {len(leaked)} message(s) of the other pair, seq {first.get('seq')} from "
                   f"{first.get('send_id')} to {first.get('recv_id')}{said}")

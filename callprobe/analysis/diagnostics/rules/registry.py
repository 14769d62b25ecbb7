"""The rule registry: pure functions from a timeline to findings, run in link order.

Each rule reads recorded events only (never a live agent, socket or peer),
so the same rules judge a live ``callprobe diagnose`` walk, a ``callprobe
run`` scenario and a JSON report loaded from disk. A rule is registered with
the link it judges; the registry does the preamble every rule shared: build
(or reuse) the view, and skip a link the run never exercised when the rule
judges absences (``RuleContext.probes``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from callprobe.analysis.diagnostics.context import RuleContext
from callprobe.analysis.diagnostics.findings import Finding, Severity, for_backend
from callprobe.analysis.diagnostics.links import Link, link_rank
from callprobe.analysis.diagnostics.view import TimelineView, view_of
from callprobe.timeline.events import Event

#: What a registered rule is: events and context in, findings out.
Rule = Callable[[Sequence[Event], RuleContext], list[Finding]]
#: What a rule's body is: the view in (its ``ctx`` included), findings out.
RuleBody = Callable[[TimelineView], Iterable[Finding]]

#: Registered rules, by name, in the order they were registered (link order).
RULES: dict[str, Rule] = {}


def rule(name: str, link: Link | None = None) -> Callable[[RuleBody], Rule]:
    """Register a rule; with ``link``, it runs only when the context exercised that link."""

    def register(body: RuleBody) -> Rule:
        def run(events: Sequence[Event], ctx: RuleContext) -> list[Finding]:
            if link is not None and not ctx.exercised(link):
                return []
            return list(body(view_of(events, ctx)))

        run.__name__ = run.__qualname__ = body.__name__
        run.__doc__ = body.__doc__
        RULES[name] = run
        return run

    return register


def _sort_key(f: Finding) -> tuple[float, int, str, str]:
    return (math.inf if f.at_ms is None else f.at_ms, link_rank(f.link), f.code, f.agent)


def diagnose_timeline(events: Sequence[Event], ctx: RuleContext | None = None,
                      rules: Sequence[Rule] | None = None) -> list[Finding]:
    """Run every registered rule (or ``rules``); findings in time order.

    Codes in ``ctx.expected`` are kept but lowered to ``info``. Identical
    findings from different rules are reported once. A catalogue hint gets
    the backend's own words when the catalogue has them for the run's
    backend (``RunStarted.backend``).
    """
    context = ctx or RuleContext()
    view = TimelineView(events, context)
    found: list[Finding] = []
    seen: set[tuple[str, str, float | None, str]] = set()
    for fn in rules if rules is not None else RULES.values():
        for f in fn(view, context):
            key = (f.code, f.agent, f.at_ms, f.detail)
            if key in seen:
                continue
            seen.add(key)
            if f.code in context.expected and f.severity is not Severity.INFO:
                f = replace(f, severity=Severity.INFO, detail=f"{f.detail} (expected by the scenario)")
            found.append(for_backend(f, view.backend))
    return sorted(found, key=_sort_key)


def first_broken_link(findings: Sequence[Finding]) -> Finding | None:
    """The earliest error in link order (login first, stale state last)."""
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if not errors:
        return None
    return min(errors, key=lambda f: (link_rank(f.link), *_sort_key(f)))

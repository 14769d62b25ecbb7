"""The HTML pages of ``run --html`` and ``diagnose --html``: the ladder plus the checks.

A run's expectations (and failed actions) and a walk's links are the page's
checks: counted in its summary, failed ones in a banner at the top, all of
them listed under the findings (``reporters.ladder.html``).
"""

from __future__ import annotations

from callprobe.analysis.results import LinkResult, RunResult, WalkResult
from callprobe.reporters.ladder import build_ladder, render_ladder_html
from callprobe.reporters.ladder.html import Check


def run_checks(result: RunResult) -> list[Check]:
    checks = [Check(f"line {s.line}: {s.text}", s.passed, "" if s.passed else s.detail, s.t_ms)
              for s in result.steps]
    if result.aborted:
        checks.append(Check("the run", False, result.aborted))
    return checks


def run_html(result: RunResult) -> str:
    ladder = build_ladder(result.events, result.findings)
    return render_ladder_html(ladder, title=f"callprobe run {result.scenario}", checks=run_checks(result))


def link_words(link: LinkResult) -> str:
    """A checklist line's words: the link, the step when it says more, the agent."""
    what = link.link if link.step in (link.link, "invite", "connect", "answer") else f"{link.link}: {link.step}"
    return what + (f" ({link.agent})" if link.agent else "")


def walk_checks(result: WalkResult) -> list[Check]:
    checks = [Check(link_words(link), link.ok) for link in result.links]
    if result.aborted:
        checks.append(Check("the walk", False, result.aborted))
    return checks

"""Run the diagnostic rules on a ``callprobe run`` timeline.

A scenario says who calls whom; this turns that into the ``RuleContext`` the
rules need, so a failing scenario reports *why* (the first broken link), not
only which expectation failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from callprobe.analysis.diagnostics.context import RuleContext
from callprobe.analysis.diagnostics.findings import Finding
from callprobe.analysis.diagnostics.rules import diagnose_timeline
from callprobe.scenario.model import Action, Expectation, Scenario
from callprobe.timeline.events import Event, LoginOk


def context_for_scenario(scenario: Scenario, events: Sequence[Event] = ()) -> RuleContext:
    """Caller and callee of the scenario's first invite, every agent's user ID.

    A user ID learned at login (``LoginOk.user_id``: backends that name users
    by an id the server assigns) wins over the scenario's name for it. The
    finding codes the scenario expects (``expect: {finding: CODE}``) are
    expected: kept, lowered to info.
    """
    learned = {e.agent: e.user_id for e in events if isinstance(e, LoginOk) and e.user_id}
    users = tuple((name, learned.get(name, cfg.user_id)) for name, cfg in scenario.agents.items())
    ids = dict(users)
    invite = next((s for s in scenario.steps if isinstance(s, Action) and s.verb == "invite"), None)
    caller = callee = ""
    devices: tuple[str, ...] = ()
    if invite is not None:
        caller = invite.agent or ""
        callee = invite.targets[0] if invite.targets else ""
        callee_user = ids.get(callee, "")
        devices = tuple(n for n in scenario.agents if ids[n] == callee_user and n != callee)
    # the scenario's own word on how fast a ring must come, when it says so
    rings = [s.within_s for s in scenario.steps
             if isinstance(s, Expectation) and s.event == "ringing" and not s.absent and s.within_s]
    extra: dict[str, Any] = {"ring_deadline_ms": min(rings) * 1000.0} if rings else {}
    expected = frozenset(s.finding for s in scenario.steps
                         if isinstance(s, Expectation) and s.finding and not s.absent)
    base = RuleContext.from_settings(
        scenario.settings, caller=caller, callee=callee, caller_user=ids.get(caller, ""),
        callee_user=ids.get(callee, ""), callee_devices=devices, users=users, expected=expected, **extra,
    )
    return base


def findings_for_run(events: Sequence[Event], scenario: Scenario) -> list[Finding]:
    return diagnose_timeline(events, context_for_scenario(scenario, events))

"""``expect: {finding: CODE}``: checked against the catalogue when loaded, judged by the rules on the
timeline so far, for every backend."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from callprobe.analysis.diagnostics.findings import Finding
from callprobe.analysis.diagnostics.rules import diagnose_timeline
from callprobe.analysis.diagnostics.run_rules import context_for_scenario
from callprobe.analysis.expectations import FAIL, PASS, PENDING, Window, judge
from callprobe.errors import ScenarioError
from callprobe.scenario import load_scenario_text
from callprobe.scenario.model import Expectation
from callprobe.timeline.events import Event
from tests.analysis.diagnostics.timeline_fakes import ALICE, BOB, CTX, TL


def findings(events: Sequence[Event]) -> list[Finding]:
    """The judge's findings function: every rule, over the fakes' context."""
    return diagnose_timeline(events, CTX)


HEAD = """\
name: t
agents:
  alice: {}
  bob: {}
steps:
  - connect: [alice, bob]
  - invite: {from: alice, to: bob}
"""


def test_a_finding_expectation_is_loaded_and_its_code_is_expected_by_the_rules() -> None:
    scenario = load_scenario_text(HEAD + "  - expect: {finding: INVITE_NOT_DELIVERED, within: 2s}\n"
                                          "  - expect: {finding: ANSWER_NOT_DELIVERED, absent: true, for: 1s}\n")
    first, second = scenario.steps[-2:]
    assert isinstance(first, Expectation) and isinstance(second, Expectation)
    assert (first.finding, first.within_s, first.absent) == ("INVITE_NOT_DELIVERED", 2.0, False)
    assert (second.finding, second.for_s, second.absent) == ("ANSWER_NOT_DELIVERED", 1.0, True)
    # what a scenario provokes on purpose is reported at info; what it rules out is not
    assert context_for_scenario(scenario).expected == frozenset({"INVITE_NOT_DELIVERED"})


@pytest.mark.parametrize(("step", "field", "words"), [
    ("{finding: INVITE_NOT_DELIVERD}", "steps[3].expect.finding",
     "unknown finding code 'INVITE_NOT_DELIVERD' (did you mean 'INVITE_NOT_DELIVERED'?)"),
    ("{finding: invite_not_delivered}", "steps[3].expect.finding", "a finding code in capitals"),
    ("{finding: INVITE_NOT_DELIVERED, agent: bob}", "steps[3].expect.agent", "agent does not apply to a finding"),
    ("{finding: INVITE_NOT_DELIVERED, call: 1}", "steps[3].expect.call", "call does not apply to a finding"),
    ("{finding: INVITE_NOT_DELIVERED, event: ringing}", "steps[3].expect.event", "event does not apply to a finding"),
    ("{finding: INVITE_NOT_DELIVERED, outcome: answered}", "steps[3].expect.outcome",
     "outcome does not apply to a finding"),
    ("{event: ringing, outcome: answered}", "steps[3].expect.outcome",
     "give one of event, outcome and finding, not both event and outcome"),
    ("{finding: INVITE_NOT_DELIVERED, for: 1s}", "steps[3].expect.for", "goes with absent: true"),
    ("{finding: INVITE_NOT_DELIVERED, absent: true, within: 1s}", "steps[3].expect.within", "takes 'for'"),
])
def test_bad_finding_expectations_name_their_field(step: str, field: str, words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(HEAD + f"  - expect: {step}\n", file="x.yaml")
    assert (info.value.line, info.value.field) == (8, field), str(info.value)
    assert words in str(info.value).splitlines()[0], str(info.value)


def _lost_invite() -> TL:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.text(ALICE, BOB)
    tl.invite(rang=False)
    return tl


def test_the_judge_waits_for_the_deadline_the_rules_need_then_passes() -> None:
    tl = _lost_invite()
    want = Expectation(line=9, text="expect", finding="INVITE_NOT_DELIVERED")
    window = Window(0.0, 10_000.0)
    sent = next(e.t_ms for e in tl.events if e.kind == "invite_sent")
    # right after the invite the ring deadline (3 s) has not passed: nothing to say yet
    assert judge(want, tl.events, window, sent + 100.0, {}, findings).state == PENDING
    verdict = judge(want, tl.events, window, sent + 3_500.0, {}, findings)
    assert verdict.state == PASS and "INVITE_NOT_DELIVERED (error)" in verdict.detail


def test_the_judge_fails_at_the_deadline_naming_what_it_found_instead() -> None:
    tl = _lost_invite()
    want = Expectation(line=9, text="expect", finding="HISTORY_PAYLOAD_MISSING")
    verdict = judge(want, tl.events, Window(0.0, 5_000.0), 9_000.0, {}, findings)
    assert verdict.state == FAIL and "findings: INVITE_NOT_DELIVERED" in verdict.detail


def test_an_absent_finding_fails_as_soon_as_it_is_found_and_passes_at_the_end_otherwise() -> None:
    tl = _lost_invite()
    absent = Expectation(line=9, text="expect", finding="INVITE_NOT_DELIVERED", absent=True, for_s=1.0)
    assert judge(absent, tl.events, Window(0.0, 20_000.0), 9_000.0, {}, findings).state == FAIL
    other = Expectation(line=9, text="expect", finding="STALE_CALL_STATE", absent=True, for_s=1.0)
    assert judge(other, tl.events, Window(0.0, 20_000.0), 9_000.0, {}, findings).state == PENDING
    assert judge(other, tl.events, Window(0.0, 20_000.0), 20_000.0, {}, findings).state == PASS

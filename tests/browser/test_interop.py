"""Interop with a real browser's WebRTC, through the embedded gateway, on loopback.

One run per media kind, three calls each: a callprobe agent calls a browser,
a browser calls the agent, a browser calls another browser. Media must flow
both ways in every call. One Chromium serves the run (two contexts), so the
whole file costs two browser starts.
"""

from __future__ import annotations

import pytest

from callprobe.analysis.diagnostics.run_rules import findings_for_run
from callprobe.engine.runner import run_scenario
from callprobe.scenario.loader import load_scenario_text
from tests.browser.conftest import needs_browser

pytestmark = needs_browser


def call(caller: str, callee: str, media: str, hanger: str, other: str) -> str:
    return (f"  - invite: {{from: {caller}, to: {callee}, media: {media}}}\n"
            f"  - expect: {{agent: {callee}, event: ringing, within: 3s}}\n"
            f"  - accept: {callee}\n"
            f"  - expect: {{agent: {caller}, event: answered, within: 5s}}\n"
            f"  - expect: {{event: ice_connected, within: 10s}}\n"
            f"  - wait: 1500ms\n"
            f"  - expect: {{event: media_flowing, direction: both, within: 5s}}\n"
            f"  - hangup: {hanger}\n"
            f"  - expect: {{agent: {other}, event: hung_up, within: 3s}}\n")


def scenario(media: str) -> str:
    return ("name: browser interop\n"
            "agents:\n  alice: {}\n  carol: {browser: chromium}\n  dave: {browser: chromium}\n"
            "steps:\n  - connect: [alice, carol, dave]\n"
            + call("alice", "carol", media, "alice", "carol")      # agent calls browser
            + call("carol", "alice", media, "carol", "alice")      # browser calls agent
            + call("carol", "dave", media, "dave", "carol"))       # browser calls browser


@pytest.mark.parametrize("media", ["video", "audio"])
async def test_agents_and_browsers_call_each_other(media: str) -> None:
    s = load_scenario_text(scenario(media), file=f"interop-{media}.yaml")
    result = await run_scenario(s)
    assert result.verdict == "pass", [f"{f.line}: {f.text}: {f.detail}" for f in result.failures] or result.aborted
    kinds = ("audio", "video") if media == "video" else ("audio",)
    pairs = [("alice", "carol"), ("carol", "alice"), ("carol", "dave")]
    assert [(c.caller, c.callee) for c in result.calls] == pairs
    for c in result.calls:
        assert c.outcome == "answered" and c.media_kind == media
        for agent in (c.caller, c.callee):
            got = c.media[agent]
            assert all(got[f"{k}_frames"] > 0 for k in kinds), (c.caller, c.callee, agent, got)
            if media == "audio":
                assert got["video_frames"] == 0
            assert c.ice["selected"][agent]["remote"] in ("host", "prflx")
        assert c.hangup_notice.delivered
    parties = {e.agent: e for e in result.events if e.kind == "party"}
    assert parties["carol"].role == "browser" and parties["carol"].browser.startswith("Chromium")  # type: ignore[attr-defined]
    assert parties["alice"].role == "agent"  # type: ignore[attr-defined]
    # every candidate a party signalled is on loopback
    signalled = {e.address for e in result.events if e.kind == "ice_candidate" and e.side == "local"}  # type: ignore[attr-defined]
    assert signalled == {"127.0.0.1"}
    errors = [f.code for f in findings_for_run(result.events, s) if f.severity.value == "error"]
    assert errors == []

"""The test page on its own, as a support engineer uses it (``callprobe serve`` → ``/peer/``),
and its protobuf codec checked against the Python one. One Chromium for the file."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from callprobe.backends.base import Endpoints
from callprobe.backends.kkim.protocol._pb.openim import rtc_pb2, sdkws_pb2
from callprobe.backends.kkim.server import EmbeddedGateway
from callprobe.browser.accounts import server_login
from callprobe.browser.host import CHROMIUM_ARGS, find_executable, playwright_api
from callprobe.browser.site import PageConfig, PeerSite
from callprobe.engine.runner import run_scenario
from callprobe.scenario.loader import load_scenario_text
from callprobe.scenario.model import LoginConfig
from tests.browser.conftest import needs_browser

pytestmark = needs_browser


@pytest.fixture
async def site(gateway: EmbeddedGateway) -> AsyncIterator[PeerSite]:
    """The page as ``callprobe serve`` offers it: the gateway pre-filled, logins issued."""
    endpoints = Endpoints(gateway.ws_url, gateway.api_url)
    page = PeerSite(config=PageConfig("kkim", gateway.ws_url), login=server_login("kkim", endpoints, LoginConfig()))
    await page.start()
    try:
        yield page
    finally:
        await page.stop()


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    async with playwright_api()() as pw:
        browser = await pw.chromium.launch(executable_path=find_executable("chromium"), headless=True,
                                           args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            await browser.close()


async def test_the_page_is_served_with_its_modules_and_issues_logins(site: PeerSite) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(site.url.rstrip("/"), allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == "/peer/"
        for name in ("", "static/peer.js", "static/kkim.js", "static/proto.js"):
            async with http.get(site.url + name) as r:
                assert r.status == 200, name
        async with http.get(site.url + "static/nothing.js") as r:
            assert r.status == 404
        async with http.get(site.url + "config") as r:
            config = await r.json()
        assert config == {"family": "kkim", "server": site.config.server, "login": True}
        async with http.post(site.url + "login", json={"user_id": "web1", "platform_id": 5}) as r:
            token = (await r.json())["token"]
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        assert claims["UserID"] == "web1" and claims["PlatformID"] == 5
        async with http.post(site.url + "login", data="not json") as r:
            assert r.status == 400


async def test_the_pages_codec_matches_protobuf(site: PeerSite, chromium: Any) -> None:
    page = await (await chromium.new_context()).new_page()
    await page.goto(site.url)
    encoded = await page.evaluate("""async () => {
        const pb = await import('./static/proto.js');
        const inv = {inviter: 'web1', invitees: ['bob'], roomID: 'tmp_1', timeout: 60, media: 'video',
                     platformID: 5, sessionType: 1, initiateTime: 1766630084691};
        const me = {user: 'web1', nickname: 'Web One', platformID: 5};
        const out = {};
        for (const a of ['invite', 'accept', 'reject', 'cancel', 'hungUp']) out[a] = Array.from(pb.signalReq(a, inv, me));
        out.msg = Array.from(pb.msgData({sendID: 'web1', recvID: 'bob', clientMsgID: 'c1', platformID: 5,
            nickname: 'Web One', contentType: 110, content: new TextEncoder().encode('{}'), createTime: 1766630084691}));
        return out;
    }""")
    invite = rtc_pb2.SignalReq.FromString(bytes(encoded["invite"]))
    assert invite.WhichOneof("payload") == "invite"
    inv = invite.invite.invitation
    assert (inv.inviterUserID, list(inv.inviteeUserIDList), inv.roomID, inv.timeout, inv.mediaType,
            inv.initiateTime) == ("web1", ["bob"], "tmp_1", 60, "video", 1766630084691)
    assert invite.invite.participant.userInfo.nickname == "Web One" and invite.invite.userID == "web1"
    accept = rtc_pb2.SignalReq.FromString(bytes(encoded["accept"]))
    assert accept.accept.opUserPlatformID == 5 and accept.accept.userID == "web1"
    assert rtc_pb2.SignalReq.FromString(bytes(encoded["cancel"])).cancel.userID == "web1"
    assert rtc_pb2.SignalReq.FromString(bytes(encoded["hungUp"])).hungUp.userID == "web1"
    assert rtc_pb2.SignalReq.FromString(bytes(encoded["reject"])).WhichOneof("payload") == "reject"
    msg = sdkws_pb2.MsgData.FromString(bytes(encoded["msg"]))
    assert (msg.sendID, msg.recvID, msg.contentType, msg.content, msg.status, msg.msgFrom,
            msg.createTime) == ("web1", "bob", 110, b"{}", 1, 100, 1766630084691)

    # and what the gateway pushes, read back by the page
    push = sdkws_pb2.PushMessages()
    ring = rtc_pb2.SignalInviteReq(invitation=rtc_pb2.InvitationInfo(
        inviterUserID="alice", inviteeUserIDList=["web1"], roomID="r" * 32, timeout=60, mediaType="audio"))
    push.msgs["si_alice_web1"].Msgs.add(sendID="alice", contentType=1601, content=ring.SerializeToString(),
                                        seq=7, sendTime=1766630084691)
    read = await page.evaluate("""async (bytes) => {
        const pb = await import('./static/proto.js');
        const [m] = pb.readPush(Uint8Array.from(bytes));
        return {conv: m.conversation, seq: m.seq, time: m.sendTime, notice: pb.readCallNotice(m.content)};
    }""", list(push.SerializeToString()))
    assert read["conv"] == "si_alice_web1" and read["seq"] == 7 and read["time"] == 1766630084691
    assert read["notice"]["dialect"] == "bare-SignalInviteReq"
    assert read["notice"]["invitation"]["roomID"] == "r" * 32 and read["notice"]["invitation"]["media"] == "audio"


async def test_a_person_on_the_page_answers_an_agents_call(site: PeerSite, chromium: Any,
                                                            gateway: EmbeddedGateway) -> None:
    """The support engineer's check: open /peer/, log in, answer the agent, media both ways."""
    page = await (await chromium.new_context(permissions=["camera", "microphone"])).new_page()
    await page.goto(site.url)
    await page.wait_for_function("() => document.getElementById('server').value !== ''")
    await page.fill("#user", "web1")
    await page.click("#connect")
    await page.wait_for_function("() => document.getElementById('status').textContent.startsWith('connected')")

    async def answer() -> None:
        await page.wait_for_selector("#ringing:not([hidden])", timeout=15_000)
        await page.click("#accept")

    scenario = load_scenario_text(
        "name: call the page\nice: {host_addresses: [127.0.0.1]}\n"
        "agents:\n  alice: {}\n  web: {external: true, user_id: web1}\n"
        "steps:\n  - connect: alice\n  - invite: {from: alice, to: web, media: video}\n"
        "  - expect: {agent: alice, event: answered, within: 15s}\n"
        "  - expect: {event: ice_connected, within: 10s}\n  - wait: 1500ms\n"
        "  - expect: {event: media_flowing, agent: alice, direction: to}\n  - hangup: alice\n",
        file="page.yaml")
    result, _ = await asyncio.gather(run_scenario(scenario, ws_url=gateway.ws_url, api_url=gateway.api_url),
                                     answer())
    assert result.verdict == "pass", [f"{f.line}: {f.detail}" for f in result.failures]
    [call] = result.calls
    assert call.media["alice"]["video_frames"] > 0 and call.media["alice"]["audio_frames"] > 0
    log = await page.inner_text("#log")
    for kind in ("ringing", "pc_state", "media_first_frame", "hung_up"):
        assert kind in log, kind
    firsts = [line for line in log.splitlines() if " media_first_frame " in line]
    assert any("media=video" in line for line in firsts)  # the browser decoded the agent's video

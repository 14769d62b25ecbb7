"""The KKIM driver end to end against the embedded reference gateway on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from callprobe.backends.base import DriverError, InviteRefusedError
from callprobe.backends.kkim.driver import KkimDriver
from callprobe.backends.kkim.handshake import HandshakeRefused
from callprobe.backends.kkim.login import LoginError
from callprobe.backends.kkim.protocol._pb.openim import rtc_pb2
from callprobe.backends.kkim.protocol.call_notice import (
    DIALECT_BARE_INVITE,
    DIALECT_SIGNAL_RESP,
)
from callprobe.backends.kkim.server import EmbeddedGateway
from callprobe.scenario.model import LoginConfig
from callprobe.timeline.recorder import Timeline
from tests.conftest import GatewayFactory
from tests.fakes import fields, first, select

from .conftest import FAST, DriverFactory, notice_of, peer
from .scripted import STEP_S

AgentFactory = Callable[..., Awaitable[KkimDriver]]


@pytest.fixture
def agent(make_driver: DriverFactory, gateway: EmbeddedGateway) -> AgentFactory:
    """``await agent("alice")``: logged in (admin_user_token) and connected."""
    async def factory(user: str, *, gw: EmbeddedGateway | None = None, **kwargs: Any) -> KkimDriver:
        target = gw or gateway
        kwargs.setdefault("login_config", LoginConfig())
        driver = make_driver(target.ws_url, user, api_url=target.api_url, **kwargs)
        await driver.connect()
        return driver
    return factory



# ------------------------------------------------------------------ login


@pytest.mark.parametrize("config", [
    LoginConfig(),
    LoginConfig(mode="user_token"),
    LoginConfig(mode="custom", url="/auth/user_token", token_path="data.token",
                body={"secret": "{secret}", "platformID": "{platform_id}", "userID": "{user_id}"}),
], ids=["admin_user_token", "user_token", "custom"])
async def test_login_modes_give_a_token_the_gateway_accepts(agent: AgentFactory, timeline: Timeline,
                                                            config: LoginConfig) -> None:
    driver = await agent("alice", login_config=config)
    assert driver.connected
    ok = first(timeline, "login_ok")
    assert ok is not None and fields(ok).get("mode") == config.mode and fields(ok).get("user_id") == "alice"
    assert fields(ok).get("expire_s") == 90 * 24 * 3600


async def test_fixed_token_mode(agent: AgentFactory, make_driver: DriverFactory, gateway: EmbeddedGateway,
                                timeline: Timeline) -> None:
    first_login = await agent("alice")
    token = first_login.token
    await first_login.disconnect()
    fixed = make_driver(gateway.ws_url, "alice", name="alice-fixed", api_url=gateway.api_url,
                        login_config=LoginConfig(mode="fixed", token=token))
    await fixed.login()
    await fixed.connect()
    assert fixed.connected and fixed.token == token
    assert first(timeline, "login_ok", agent="alice-fixed", mode="fixed") is not None


async def test_wrong_secret_is_login_failed_with_the_code(make_driver: DriverFactory, gateway: EmbeddedGateway,
                                                          timeline: Timeline) -> None:
    driver = make_driver(gateway.ws_url, "alice", api_url=gateway.api_url,
                         login_config=LoginConfig(secret="wrong"))
    with pytest.raises(LoginError) as info:
        await driver.connect()
    assert info.value.err_code != 0 and info.value.status == 200
    failed = first(timeline, "login_failed")
    assert failed is not None and fields(failed).get("err_code") == info.value.err_code
    assert not driver.connected


async def test_bad_token_is_refused_at_the_handshake(make_driver: DriverFactory, gateway: EmbeddedGateway,
                                                     timeline: Timeline) -> None:
    driver = make_driver(gateway.ws_url, "alice", token="not-a-jwt")
    with pytest.raises(HandshakeRefused) as info:
        await driver.connect()
    assert info.value.status == 200 and info.value.err_code == 1503
    assert first(timeline, "ws_refused", err_code=1503) is not None


async def test_is_msg_resp_status_frame_on_success(agent: AgentFactory, timeline: Timeline) -> None:
    driver = await agent("alice", is_msg_resp=True)
    assert driver.connected
    opened = first(timeline, "ws_open")
    assert opened is not None and fields(opened).get("status_frame") == {"err_code": 0, "err_msg": ""}


# ------------------------------------------------------------------ connection


async def test_heartbeat_gets_pongs(agent: AgentFactory, timeline: Timeline) -> None:
    settings = dataclasses.replace(FAST, heartbeat_interval_s=0.05, heartbeat_reply_timeout_s=1.0)
    await agent("alice", settings=settings)

    async def two_replies() -> None:
        while len(select(timeline, "heartbeat_reply")) < 2:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(two_replies(), STEP_S)
    beat = first(timeline, "heartbeat_reply")
    assert beat is not None and fields(beat).get("rtt_ms") >= 0 and fields(beat).get("form") == "pong+body"
    assert first(timeline, "heartbeat_missed") is None


async def test_missing_pongs_are_reported(make_gateway: GatewayFactory, agent: AgentFactory,
                                          timeline: Timeline) -> None:
    gw = await make_gateway(faults=(("no-heartbeat-reply", ""),))
    settings = dataclasses.replace(FAST, heartbeat_interval_s=0.05, heartbeat_reply_timeout_s=0.1)
    await agent("alice", gw=gw, settings=settings)

    async def missed() -> None:
        while first(timeline, "heartbeat_missed") is None:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(missed(), STEP_S)
    assert first(timeline, "heartbeat_reply") is None


@pytest.mark.parametrize("encoding,gzip_on", [("array", False), ("base64", True)])
async def test_text_exchange(agent: AgentFactory, timeline: Timeline, encoding: str, gzip_on: bool) -> None:
    alice = await agent("alice", data_encoding=encoding, compression=gzip_on)
    bob = await agent("bob", data_encoding="base64" if encoding == "array" else "array")
    await alice.send_text(peer("bob"), "hello bob")
    got = await notice_of(bob, "text_received")
    assert got.peer == "alice" and got.data["text"] == "hello bob" and got.data["seq"] >= 1
    await bob.send_text(peer("alice"), "hi alice")
    back = await notice_of(alice, "text_received")
    assert back.data["text"] == "hi alice"
    sent = first(timeline, "frame_out", agent="alice", req_identifier=1003)
    assert sent is not None and fields(sent).get("encoding") == encoding and fields(sent).get("gzip") is gzip_on
    received = first(timeline, "frame_in", agent="alice", req_identifier=2001)
    assert received is not None and fields(received).get("gzip") is gzip_on
    # sender sync: alice's own copy is recorded with its seq, never reported as received
    assert first(timeline, "note", agent="alice", note="own_echo", content_type=101) is not None
    assert len(select(timeline, "text_received", agent="alice")) == 1


async def test_reconnect_keeps_working(agent: AgentFactory, timeline: Timeline) -> None:
    alice = await agent("alice")
    bob = await agent("bob")
    await alice.reconnect()
    assert alice.connected
    await bob.send_text(peer("alice"), "after reconnect")
    got = await notice_of(alice, "text_received")
    assert got.data["text"] == "after reconnect"
    assert len(select(timeline, "ws_open", agent="alice")) == 2


async def test_logout_2003_closes_by_design(agent: AgentFactory, timeline: Timeline) -> None:
    alice = await agent("alice")
    await alice.logout()
    assert not alice.connected
    out = first(timeline, "frame_out", agent="alice", req_identifier=2003)
    assert out is not None
    closed = first(timeline, "ws_closed", agent="alice")
    assert closed is not None and fields(closed).get("by") == "server"
    assert "after the logout request 2003" in fields(closed).get("explanation")


async def test_second_login_kicks_the_first(agent: AgentFactory, timeline: Timeline) -> None:
    first_conn = await agent("alice", name="alice-1")
    await agent("alice", name="alice-2")
    kicked = await notice_of(first_conn, "kicked")
    await notice_of(first_conn, "disconnected")
    assert kicked.data["by"] == "2002"
    assert first(timeline, "kicked", agent="alice-1") is not None
    # the kicked token is refused with 1506 until a fresh login
    with pytest.raises(HandshakeRefused) as info:
        await first_conn.connect()
    assert info.value.err_code == 1506
    await first_conn.login()
    await first_conn.connect()
    assert first_conn.connected


# ------------------------------------------------------------------ calls


async def test_invite_accept_signals_hangup_and_history(agent: AgentFactory, timeline: Timeline) -> None:
    alice = await agent("alice")
    bob = await agent("bob", platform_id=2)
    result = await alice.invite([peer("bob")], "video", 30)
    ringing = await notice_of(bob, "ringing")
    assert ringing.room_id == result.room_id and not result.room_id.startswith("tmp_")
    assert ringing.peer == "alice" and ringing.data["dialect"] == DIALECT_BARE_INVITE
    assert ringing.data["media"] == "video"
    ring = first(timeline, "ringing", agent="bob")
    assert ring is not None and fields(ring).get("platform") == 2 and fields(ring).get("via") == "push_1601"

    await bob.accept(ringing.room_id)
    answered = await notice_of(alice, "answered")
    assert answered.room_id == result.room_id and answered.path == "unsolicited_1004"
    assert answered.peer == "bob" and answered.data["dialect"] == DIALECT_SIGNAL_RESP

    await alice.send_signal("bob", result.room_id, "offer", {"type": "offer", "sdp": "v=0\r\n"})
    offer = await notice_of(bob, "signal_received")
    assert offer.data["signal_type"] == "offer" and offer.data["data"]["sdp"] == "v=0\r\n"
    await bob.send_signal("alice", result.room_id, "answer", {"type": "answer", "sdp": "v=0\r\n"})
    answer = await notice_of(alice, "signal_received")
    assert answer.data["signal_type"] == "answer" and answer.room_id == result.room_id

    await alice.hangup(result.room_id)
    hung = await notice_of(bob, "hung_up")
    assert hung.room_id == result.room_id and hung.peer == "alice"
    for kind in ("invite_sent", "invite_acked", "accept_sent", "hangup_sent", "signal_sent"):
        assert first(timeline, kind) is not None, kind
    assert len(select(timeline, "action_acked", action="accept")) == 1
    assert first(timeline, "action_acked", action="hungUp") is not None

    history = await alice.pull_history("bob")
    invites = [m for m in history if m.contentType == 1601]
    assert invites, "the invite is stored in the si_ conversation"
    stored = rtc_pb2.SignalInviteReq.FromString(invites[0].content)
    assert stored.invitation.roomID == result.room_id and stored.invitation.inviterUserID == "alice"


async def test_reject(agent: AgentFactory, timeline: Timeline) -> None:
    alice = await agent("alice")
    bob = await agent("bob")
    result = await alice.invite([peer("bob")], "audio", 30)
    ringing = await notice_of(bob, "ringing")
    await bob.reject(ringing.room_id)
    rejected = await notice_of(alice, "rejected")
    assert rejected.room_id == result.room_id and rejected.peer == "bob"
    assert first(timeline, "reject_sent", agent="bob") is not None
    # the call is over: hanging up names a room the server no longer knows
    with pytest.raises(DriverError) as info:
        await alice.hangup(result.room_id)
    assert info.value.err_code == 1801


async def test_cancel(agent: AgentFactory) -> None:
    alice = await agent("alice")
    bob = await agent("bob")
    result = await alice.invite([peer("bob")], "audio", 30)
    await notice_of(bob, "ringing")
    await alice.cancel(result.room_id)
    cancelled = await notice_of(bob, "cancelled")
    assert cancelled.room_id == result.room_id and cancelled.peer == "alice"


async def test_unanswered_call_times_out_on_both_sides(make_gateway: GatewayFactory, agent: AgentFactory,
                                                       timeline: Timeline) -> None:
    gw = await make_gateway(invite_timeout_override_s=0.2)
    alice = await agent("alice", gw=gw)
    bob = await agent("bob", gw=gw)
    result = await alice.invite([peer("bob")], "audio", 30)
    await notice_of(bob, "ringing")
    bob_side = await notice_of(bob, "call_timeout")
    alice_side = await notice_of(alice, "call_timeout")
    assert bob_side.room_id == alice_side.room_id == result.room_id
    assert alice_side.data["server_reason"] == "timeout"
    assert first(timeline, "cancelled") is None and first(timeline, "rejected") is None


async def test_busy_callee(agent: AgentFactory, timeline: Timeline) -> None:
    alice = await agent("alice")
    bob = await agent("bob")
    carol = await agent("carol")
    await alice.invite([peer("bob")], "audio", 30)
    await notice_of(bob, "ringing")
    with pytest.raises(InviteRefusedError) as info:
        await carol.invite([peer("bob")], "audio", 30)
    assert info.value.err_code == 1802 and info.value.busy == ("bob",)
    refused = first(timeline, "invite_refused", agent="carol")
    assert refused is not None and fields(refused).get("busy_from_reply") is True


async def test_other_device_stops_ringing_when_one_answers(agent: AgentFactory, timeline: Timeline) -> None:
    alice = await agent("alice")
    bob_web = await agent("bob", name="bob-web", platform_id=5)
    bob_phone = await agent("bob", name="bob-phone", platform_id=2)
    result = await alice.invite([peer("bob")], "audio", 30)
    await notice_of(bob_web, "ringing")
    await notice_of(bob_phone, "ringing")
    await bob_phone.accept(result.room_id)
    stop = await notice_of(bob_web, "cancelled")
    assert stop.room_id == result.room_id and stop.data["server_reason"] == "answered-elsewhere"
    await notice_of(alice, "answered")


"""The KKIM driver end to end against the embedded reference gateway on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from callprobe.backends.base import DriverError
from callprobe.backends.kkim.connection import HandshakeRefused
from callprobe.backends.kkim.driver import InviteRefused, KkimDriver
from callprobe.backends.kkim.login import LoginConfig, LoginFailed
from callprobe.backends.kkim.protocol._pb.openim import rtc_pb2
from callprobe.backends.kkim.protocol.call_notice import (
    DIALECT_BARE_INVITE,
    DIALECT_SIGNAL_RESP,
)
from callprobe.backends.kkim.server import EmbeddedGateway
from callprobe.timeline.events import Kind, Timeline, first, select
from tests.conftest import GatewayFactory

from .conftest import FAST, DriverFactory, notice_of
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
    ok = first(timeline, Kind.LOGIN_OK)
    assert ok is not None and ok.get("mode") == config.mode and ok.get("user_id") == "alice"
    assert ok.get("expire_s") == 90 * 24 * 3600


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
    assert first(timeline, Kind.LOGIN_OK, agent="alice-fixed", mode="fixed") is not None


async def test_wrong_secret_is_login_failed_with_the_code(make_driver: DriverFactory, gateway: EmbeddedGateway,
                                                          timeline: Timeline) -> None:
    driver = make_driver(gateway.ws_url, "alice", api_url=gateway.api_url,
                         login_config=LoginConfig(secret="wrong"))
    with pytest.raises(LoginFailed) as info:
        await driver.connect()
    assert info.value.err_code != 0 and info.value.status == 200
    failed = first(timeline, Kind.LOGIN_FAILED)
    assert failed is not None and failed.get("err_code") == info.value.err_code
    assert not driver.connected


async def test_bad_token_is_refused_at_the_handshake(make_driver: DriverFactory, gateway: EmbeddedGateway,
                                                     timeline: Timeline) -> None:
    driver = make_driver(gateway.ws_url, "alice", token="not-a-jwt")
    with pytest.raises(HandshakeRefused) as info:
        await driver.connect()
    assert info.value.status == 200 and info.value.err_code == 1503
    assert first(timeline, Kind.WS_REFUSED, err_code=1503) is not None


async def test_is_msg_resp_status_frame_on_success(agent: AgentFactory, timeline: Timeline) -> None:
    driver = await agent("alice", is_msg_resp=True)
    assert driver.connected
    opened = first(timeline, Kind.WS_OPEN)
    assert opened is not None and opened.get("status_frame") == {"err_code": 0, "err_msg": ""}


# ------------------------------------------------------------------ connection


async def test_heartbeat_gets_pongs(agent: AgentFactory, timeline: Timeline) -> None:
    settings = dataclasses.replace(FAST, heartbeat_interval_s=0.05, heartbeat_reply_timeout_s=1.0)
    await agent("alice", settings=settings)

    async def two_replies() -> None:
        while len(select(timeline, Kind.HEARTBEAT_REPLY)) < 2:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(two_replies(), STEP_S)
    beat = first(timeline, Kind.HEARTBEAT_REPLY)
    assert beat is not None and beat.get("rtt_ms") >= 0 and beat.get("form") == "pong+body"
    assert first(timeline, Kind.HEARTBEAT_MISSED) is None


async def test_missing_pongs_are_reported(make_gateway: GatewayFactory, agent: AgentFactory,
                                          timeline: Timeline) -> None:
    gw = await make_gateway(faults=(("no-heartbeat-reply", ""),))
    settings = dataclasses.replace(FAST, heartbeat_interval_s=0.05, heartbeat_reply_timeout_s=0.1)
    await agent("alice", gw=gw, settings=settings)

    async def missed() -> None:
        while first(timeline, Kind.HEARTBEAT_MISSED) is None:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(missed(), STEP_S)
    assert first(timeline, Kind.HEARTBEAT_REPLY) is None


@pytest.mark.parametrize("encoding,gzip_on", [("array", False), ("base64", True)])
async def test_text_exchange(agent: AgentFactory, timeline: Timeline, encoding: str, gzip_on: bool) -> None:
    alice = await agent("alice", data_encoding=encoding, compression=gzip_on)
    bob = await agent("bob", data_encoding="base64" if encoding == "array" else "array")
    await alice.send_text("bob", "hello bob")
    got = await notice_of(bob, "text_received")
    assert got.peer == "alice" and got.data["text"] == "hello bob" and got.data["seq"] >= 1
    await bob.send_text("alice", "hi alice")
    back = await notice_of(alice, "text_received")
    assert back.data["text"] == "hi alice"
    sent = first(timeline, Kind.FRAME_OUT, agent="alice", req_identifier=1003)
    assert sent is not None and sent.get("encoding") == encoding and sent.get("gzip") is gzip_on
    received = first(timeline, Kind.FRAME_IN, agent="alice", req_identifier=2001)
    assert received is not None and received.get("gzip") is gzip_on
    # sender sync: alice's own copy is recorded with its seq, never reported as received
    assert first(timeline, Kind.NOTE, agent="alice", note="own_echo", content_type=101) is not None
    assert len(select(timeline, Kind.TEXT_RECEIVED, agent="alice")) == 1


async def test_reconnect_keeps_working(agent: AgentFactory, timeline: Timeline) -> None:
    alice = await agent("alice")
    bob = await agent("bob")
    await alice.reconnect()
    assert alice.connected
    await bob.send_text("alice", "after reconnect")
    got = await notice_of(alice, "text_received")
    assert got.data["text"] == "after reconnect"
    assert len(select(timeline, Kind.WS_OPEN, agent="alice")) == 2


async def test_logout_2003_closes_by_design(agent: AgentFactory, timeline: Timeline) -> None:
    alice = await agent("alice")
    await alice.logout()
    assert not alice.connected
    out = first(timeline, Kind.FRAME_OUT, agent="alice", req_identifier=2003)
    assert out is not None
    closed = first(timeline, Kind.WS_CLOSED, agent="alice")
    assert closed is not None and closed.get("by") == "server"
    assert "after the logout request 2003" in closed.get("explanation")


async def test_second_login_kicks_the_first(agent: AgentFactory, timeline: Timeline) -> None:
    first_conn = await agent("alice", name="alice-1")
    await agent("alice", name="alice-2")
    kicked = await notice_of(first_conn, "kicked")
    await notice_of(first_conn, "disconnected")
    assert kicked.data["by"] == "2002"
    assert first(timeline, Kind.KICKED, agent="alice-1") is not None
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
    result = await alice.invite(["bob"], "video", 30)
    ringing = await notice_of(bob, "ringing")
    assert ringing.room_id == result.room_id and not result.room_id.startswith("tmp_")
    assert ringing.peer == "alice" and ringing.data["dialect"] == DIALECT_BARE_INVITE
    assert ringing.data["media"] == "video"
    ring = first(timeline, Kind.RINGING, agent="bob")
    assert ring is not None and ring.get("platform") == 2 and ring.get("via") == "push_1601"

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
    for kind in (Kind.INVITE_SENT, Kind.INVITE_ACKED, Kind.ACCEPT_SENT, Kind.HANGUP_SENT, Kind.SIGNAL_SENT):
        assert first(timeline, kind) is not None, kind
    assert len(select(timeline, Kind.ACTION_ACKED, action="accept")) == 1
    assert first(timeline, Kind.ACTION_ACKED, action="hungUp") is not None

    history = await alice.pull_history("bob")
    invites = [m for m in history if m.contentType == 1601]
    assert invites, "the invite is stored in the si_ conversation"
    stored = rtc_pb2.SignalInviteReq.FromString(invites[0].content)
    assert stored.invitation.roomID == result.room_id and stored.invitation.inviterUserID == "alice"


async def test_reject(agent: AgentFactory, timeline: Timeline) -> None:
    alice = await agent("alice")
    bob = await agent("bob")
    result = await alice.invite(["bob"], "audio", 30)
    ringing = await notice_of(bob, "ringing")
    await bob.reject(ringing.room_id)
    rejected = await notice_of(alice, "rejected")
    assert rejected.room_id == result.room_id and rejected.peer == "bob"
    assert first(timeline, Kind.REJECT_SENT, agent="bob") is not None
    # the call is over: hanging up names a room the server no longer knows
    with pytest.raises(DriverError) as info:
        await alice.hangup(result.room_id)
    assert info.value.err_code == 1801


async def test_cancel(agent: AgentFactory) -> None:
    alice = await agent("alice")
    bob = await agent("bob")
    result = await alice.invite(["bob"], "audio", 30)
    await notice_of(bob, "ringing")
    await alice.cancel(result.room_id)
    cancelled = await notice_of(bob, "cancelled")
    assert cancelled.room_id == result.room_id and cancelled.peer == "alice"


async def test_unanswered_call_times_out_on_both_sides(make_gateway: GatewayFactory, agent: AgentFactory,
                                                       timeline: Timeline) -> None:
    gw = await make_gateway(invite_timeout_override_s=0.2)
    alice = await agent("alice", gw=gw)
    bob = await agent("bob", gw=gw)
    result = await alice.invite(["bob"], "audio", 30)
    await notice_of(bob, "ringing")
    bob_side = await notice_of(bob, "call_timeout")
    alice_side = await notice_of(alice, "call_timeout")
    assert bob_side.room_id == alice_side.room_id == result.room_id
    assert alice_side.data["server_reason"] == "timeout"
    assert first(timeline, Kind.CANCELLED) is None and first(timeline, Kind.REJECTED) is None


async def test_busy_callee(agent: AgentFactory, timeline: Timeline) -> None:
    alice = await agent("alice")
    bob = await agent("bob")
    carol = await agent("carol")
    await alice.invite(["bob"], "audio", 30)
    await notice_of(bob, "ringing")
    with pytest.raises(InviteRefused) as info:
        await carol.invite(["bob"], "audio", 30)
    assert info.value.err_code == 1802 and info.value.busy == ("bob",)
    refused = first(timeline, Kind.INVITE_REFUSED, agent="carol")
    assert refused is not None and refused.get("busy_from_reply") is True


async def test_other_device_stops_ringing_when_one_answers(agent: AgentFactory, timeline: Timeline) -> None:
    alice = await agent("alice")
    bob_web = await agent("bob", name="bob-web", platform_id=5)
    bob_phone = await agent("bob", name="bob-phone", platform_id=2)
    result = await alice.invite(["bob"], "audio", 30)
    await notice_of(bob_web, "ringing")
    await notice_of(bob_phone, "ringing")
    await bob_phone.accept(result.room_id)
    stop = await notice_of(bob_web, "cancelled")
    assert stop.room_id == result.room_id and stop.data["server_reason"] == "answered-elsewhere"
    await notice_of(alice, "answered")


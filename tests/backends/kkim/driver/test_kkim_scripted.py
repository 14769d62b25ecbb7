"""The KKIM driver against scripted servers: variants the embedded gateway never sends."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import Callable

import pytest
from websockets.asyncio.server import ServerConnection

from callprobe.backends.base import DriverError, InviteRefusedError
from callprobe.backends.kkim.client import read_text
from callprobe.backends.kkim.connection import ConnectionLost, HandshakeRefused
from callprobe.backends.kkim.protocol._pb.openim import msg_pb2, rtc_pb2, sdkws_pb2
from callprobe.backends.kkim.protocol.call_notice import (
    DIALECT_BARE_INVITE,
    DIALECT_SIGNAL_REQ,
)
from callprobe.backends.kkim.protocol.envelope import Request
from callprobe.errors import DeadlineExceeded, ServerUnreachable
from callprobe.settings import ClientSettings
from callprobe.timeline.recorder import Timeline
from tests.fakes import fields, first, select

from .conftest import FAST, DriverFactory, notice_of, peer
from .scripted import (
    STEP_S,
    ScriptedGateway,
    invitation,
    msg,
    push_frame,
    recv_request,
    reply,
    resp_frame,
    signal_req,
)


async def hold(conn: ServerConnection) -> None:
    """Keep a scripted connection open, answering pings, until the client leaves."""
    try:
        async for frame in conn:
            if isinstance(frame, str):
                await conn.send('{"type":"pong","body":null}')
    except Exception:
        return


def invite_ack(room: str, busy: tuple[str, ...] = ()) -> bytes:
    resp = rtc_pb2.SignalResp()
    resp.invite.roomID = room
    resp.invite.busyLineUserIDList.extend(busy)
    return resp.SerializeToString()


# ------------------------------------------------------------------ handshake


async def test_refusal_with_http_200_json_body_is_reported(make_driver: DriverFactory, timeline: Timeline) -> None:
    body = json.dumps({"errCode": 1502, "errMsg": "TokenInvalidError", "errDlt": "token user mismatch"}).encode()
    async with ScriptedGateway(hold, refuse=(200, body)) as gw:
        driver = make_driver(gw.url)
        with pytest.raises(HandshakeRefused) as info:
            await driver.connect()
    err = info.value
    assert (err.status, err.err_code, err.err_msg) == (200, 1502, "TokenInvalidError")
    assert "TokenInvalidError" in str(err) and "HTTP 200" in str(err)
    refused = first(timeline, "ws_refused")
    assert refused is not None and fields(refused).get("err_code") == 1502 and fields(refused).get("status") == 200
    assert fields(refused).get("err_dlt") == "token user mismatch"
    assert not driver.connected


async def test_refusal_via_is_msg_resp_status_frame(make_driver: DriverFactory, timeline: Timeline) -> None:
    async def refuse_after_upgrade(conn: ServerConnection) -> None:
        await conn.send(json.dumps({"errCode": 1503, "errMsg": "TokenMalformedError", "errDlt": ""}))
        await conn.close()

    async with ScriptedGateway(refuse_after_upgrade) as gw:
        driver = make_driver(gw.url, is_msg_resp=True)
        with pytest.raises(HandshakeRefused) as info:
            await driver.connect()
        assert "isMsgResp=true" in gw.paths[0]
    assert info.value.status == 101 and info.value.err_code == 1503
    assert first(timeline, "ws_refused", err_code=1503) is not None


async def test_url_carries_every_parameter_and_the_token_is_redacted(
        make_driver: DriverFactory, timeline: Timeline) -> None:
    async with ScriptedGateway(hold) as gw:
        driver = make_driver(gw.url, "bob", platform_id=3, compression=True)
        await driver.connect()
        path = gw.paths[0]
    for part in ("sendID=bob", "token=tok-bob", "platformID=3", "sdkType=js", "operationID=",
                 "isBackground=false", "compression=gzip"):
        assert part in path
    shown = first(timeline, "ws_connecting")
    assert shown is not None and "tok-bob" not in fields(shown).get("url") and "token=REDACTED" in fields(shown).get("url")
    assert first(timeline, "ws_open") is not None


async def test_a_given_token_is_a_fixed_login(make_driver: DriverFactory, timeline: Timeline) -> None:
    driver = make_driver("ws://127.0.0.1:1", token="given")
    await driver.login()
    assert driver.token == "given"
    ok = first(timeline, "login_ok")
    assert ok is not None and fields(ok).get("mode") == "fixed" and fields(ok).get("steps") == []


async def test_connection_refused_is_server_unreachable(make_driver: DriverFactory) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    driver = make_driver(f"ws://127.0.0.1:{port}")
    with pytest.raises(ServerUnreachable):
        await driver.connect()


# ------------------------------------------------------------------ requests


async def test_unanswered_request_times_out_naming_the_setting(make_driver: DriverFactory,
                                                               timeline: Timeline) -> None:
    late: asyncio.Event = asyncio.Event()

    async def silent_then_late(conn: ServerConnection) -> None:
        req = await recv_request(conn)
        await asyncio.sleep(0.5)
        await reply(conn, req, msg_pb2.SendMsgResp(serverMsgID="s").SerializeToString())
        late.set()
        await hold(conn)

    settings = ClientSettings(**{**FAST.__dict__, "request_timeout_s": 0.2})
    async with ScriptedGateway(silent_then_late) as gw:
        driver = make_driver(gw.url, settings=settings)
        await driver.connect()
        with pytest.raises(DeadlineExceeded) as info:
            await driver.send_text(peer("bob"), "hello")
        await asyncio.wait_for(late.wait(), STEP_S)
        await asyncio.sleep(0.05)
    assert info.value.setting == "request_timeout_s"
    timeout = first(timeline, "request_timeout")
    assert timeout is not None and fields(timeout).get("req_identifier") == 1003
    assert fields(timeout).get("setting") == "request_timeout_s" and fields(timeout).get("seconds") == 0.2
    assert first(timeline, "note", note="late_reply") is not None


async def test_request_frames_number_array_by_default_and_base64_on_request(make_driver: DriverFactory) -> None:
    seen: list[dict[str, object]] = []

    async def record(conn: ServerConnection) -> None:
        req = await recv_request(conn, raw_sink=seen)
        await reply(conn, req, msg_pb2.SendMsgResp(serverMsgID="s1").SerializeToString())
        await hold(conn)

    for encoding, wire_type in (("array", list), ("base64", str)):
        async with ScriptedGateway(record) as gw:
            driver = make_driver(gw.url, data_encoding=encoding)
            await driver.connect()
            await driver.send_text(peer("bob"), "hi")
            await driver.disconnect()
        assert isinstance(seen[-1]["data"], wire_type)
        assert seen[-1]["sendID"] == "alice" and seen[-1]["reqIdentifier"] == 1003


async def test_sent_msgdata_has_the_fields_the_server_needs(make_driver: DriverFactory) -> None:
    got: list[Request] = []

    async def record(conn: ServerConnection) -> None:
        for _ in range(2):
            req = await recv_request(conn)
            got.append(req)
            await reply(conn, req, msg_pb2.SendMsgResp(serverMsgID="s").SerializeToString())
        await hold(conn)

    async with ScriptedGateway(record) as gw:
        driver = make_driver(gw.url, "alice", platform_id=7)
        await driver.connect()
        await driver.send_text(peer("bob"), "héllo")
        await driver.send_signal("bob", "room-1", "offer", {"type": "offer", "sdp": "v=0"})
    texts = [sdkws_pb2.MsgData.FromString(r.data) for r in got]
    for data in texts:
        assert (data.status, data.msgFrom, data.sessionType, data.senderPlatformID) == (1, 100, 1, 7)
        assert data.sendID == "alice" and data.recvID == "bob" and data.createTime > 0
    assert texts[0].clientMsgID != texts[1].clientMsgID
    assert texts[0].contentType == 101 and json.loads(texts[0].content) == {"text": "héllo"}
    content = json.loads(texts[1].content)
    assert texts[1].contentType == 110 and content["type"] == "webrtc_signal"
    assert content["signalType"] == "offer" and content["roomID"] == "room-1"


@pytest.mark.parametrize("wire", ["array", "empty", "null", "base64"])
async def test_response_data_forms_are_all_accepted(make_driver: DriverFactory, timeline: Timeline,
                                                    wire: str) -> None:
    payload = msg_pb2.SendMsgResp(serverMsgID="srv", clientMsgID="c", sendTime=5).SerializeToString()
    # KKIM's guide gives SendMsgResp an int64 seq = 4; upstream has a message there: both are ignored
    payload += bytes([4 << 3, 42])
    forms = {"array": list(payload), "empty": "", "null": None, "base64": base64.b64encode(payload).decode()}

    async def answer(conn: ServerConnection) -> None:
        req = await recv_request(conn)
        await reply(conn, req, data=forms[wire])
        await hold(conn)

    async with ScriptedGateway(answer) as gw:
        driver = make_driver(gw.url)
        await driver.connect()
        await driver.send_text(peer("bob"), "x")
    frame_in = first(timeline, "frame_in", req_identifier=1003)
    assert frame_in is not None and fields(frame_in).get("data_form") == wire
    acked = first(timeline, "action_acked", action="send_text")
    assert acked is not None
    assert fields(acked).get("server_msg_id") == ("srv" if wire in ("array", "base64") else "")


async def test_error_reply_raises_driver_error_with_both_readings(make_driver: DriverFactory,
                                                                  timeline: Timeline) -> None:
    async def refuse(conn: ServerConnection) -> None:
        req = await recv_request(conn)
        await reply(conn, req, None, err_code=1004, err_msg="RecordNotFoundError")
        await hold(conn)

    async with ScriptedGateway(refuse) as gw:
        driver = make_driver(gw.url)
        await driver.connect()
        with pytest.raises(DriverError) as info:
            await driver.send_text(peer("nobody"), "x")
    assert info.value.err_code == 1004
    assert "KKIM" in info.value.explanation and "OpenIM" in info.value.explanation
    failed = first(timeline, "request_failed")
    assert failed is not None and fields(failed).get("err_code") == 1004


# ------------------------------------------------------------------ heartbeat and close


async def test_heartbeat_reply_and_missed(make_driver: DriverFactory, timeline: Timeline) -> None:
    answered: list[int] = []

    async def pong_once(conn: ServerConnection) -> None:
        async for frame in conn:
            if isinstance(frame, str) and json.loads(frame) == {"type": "ping"}:
                answered.append(1)
                if len(answered) == 1:
                    await conn.send('{"type":"pong","body":null}')

    settings = ClientSettings(**{**FAST.__dict__, "heartbeat_interval_s": 0.1, "heartbeat_reply_timeout_s": 0.1})
    async with ScriptedGateway(pong_once) as gw:
        driver = make_driver(gw.url, settings=settings)
        await driver.connect()
        await asyncio.wait_for(_until(lambda: first(timeline, "heartbeat_missed") is not None), STEP_S)
    reply_event = first(timeline, "heartbeat_reply")
    assert reply_event is not None and fields(reply_event).get("rtt_ms") >= 0 and fields(reply_event).get("number") == 1
    missed = first(timeline, "heartbeat_missed")
    assert missed is not None and fields(missed).get("setting") == "heartbeat_reply_timeout_s"
    assert fields(missed).get("number") >= 2


async def _until(check: Callable[[], bool]) -> None:
    while not check():
        await asyncio.sleep(0.02)


async def test_drop_right_after_a_request_names_it(make_driver: DriverFactory, timeline: Timeline) -> None:
    async def drop(conn: ServerConnection) -> None:
        await recv_request(conn)
        conn.transport.abort()  # as upstream: no close frame, no reply

    async with ScriptedGateway(drop) as gw:
        driver = make_driver(gw.url)
        await driver.connect()
        with pytest.raises(ConnectionLost):
            await driver.send_text(peer("bob"), "x")
        notice = await notice_of(driver, "disconnected")
    closed = first(timeline, "ws_closed")
    assert closed is not None and fields(closed).get("code") == 1006 and fields(closed).get("by") == "server"
    assert "1003" in fields(closed).get("explanation") and "sendID" in fields(closed).get("explanation")
    assert fields(closed).get("after_request")["req_identifier"] == 1003
    assert notice.data["code"] == 1006
    assert not driver.connected


async def test_close_frame_from_server_is_explained(make_driver: DriverFactory, timeline: Timeline) -> None:
    async def too_big(conn: ServerConnection) -> None:
        await recv_request(conn)
        await conn.close(1009, "")

    async with ScriptedGateway(too_big) as gw:
        driver = make_driver(gw.url)
        await driver.connect()
        with pytest.raises(ConnectionLost):
            await driver.send_text(peer("bob"), "x" * 100)
    closed = first(timeline, "ws_closed")
    assert closed is not None and fields(closed).get("code") == 1009
    assert "51200" in fields(closed).get("explanation")


async def test_reconnect_opens_a_new_connection(make_driver: DriverFactory, timeline: Timeline) -> None:
    async with ScriptedGateway(hold) as gw:
        driver = make_driver(gw.url)
        await driver.connect()
        await driver.reconnect()
        assert driver.connected
        assert len(gw.paths) == 2
    assert len(select(timeline, "ws_open")) == 2
    assert first(timeline, "ws_closed", by="client") is not None


# ------------------------------------------------------------------ kicks


async def test_kick_2002_then_drop(make_driver: DriverFactory, timeline: Timeline) -> None:
    async def kick(conn: ServerConnection) -> None:
        await conn.send(resp_frame(2002, data=None))
        await asyncio.sleep(0.05)
        conn.transport.abort()

    async with ScriptedGateway(kick) as gw:
        driver = make_driver(gw.url)
        await driver.connect()
        kicked = await notice_of(driver, "kicked")
        await notice_of(driver, "disconnected")
    assert kicked.data["by"] == "2002"
    assert first(timeline, "kicked", by="2002") is not None


async def test_server_2003_push_is_a_forced_logout(make_driver: DriverFactory, timeline: Timeline) -> None:
    async def logout(conn: ServerConnection) -> None:
        await conn.send(resp_frame(2003, data=""))
        await hold(conn)

    async with ScriptedGateway(logout) as gw:
        driver = make_driver(gw.url)
        await driver.connect()
        kicked = await notice_of(driver, "kicked")
    assert kicked.data["by"] == "2003"


# ------------------------------------------------------------------ calls


async def test_openim_wrapper_1601_actions_and_dedupe_with_unsolicited_1004(
        make_driver: DriverFactory, timeline: Timeline) -> None:
    async def gateway(conn: ServerConnection) -> None:
        req = await recv_request(conn)
        invite = rtc_pb2.SignalReq.FromString(req.data)
        await reply(conn, req, invite_ack("srv-room"))
        inv = invite.invite.invitation
        inv.roomID = "srv-room"
        # the peer's accept, OpenIM v2 style: a 1601 whose content is the whole SignalReq
        accept = signal_req("accept", inv, "bob")
        accept.accept.opUserPlatformID = 2
        await conn.send(push_frame([msg("bob", "alice", 1601, accept.SerializeToString(), msg_from=200)]))
        # ... and the same action again as an unsolicited 1004 SignalResp
        resp = rtc_pb2.SignalResp()
        resp.accept.roomID = "srv-room"
        await conn.send(resp_frame(1004, data=resp.SerializeToString()))
        await hold(conn)

    async with ScriptedGateway(gateway) as gw:
        driver = make_driver(gw.url)
        await driver.connect()
        result = await driver.invite([peer("bob")], "video", 30)
        answered = await notice_of(driver, "answered")
        await asyncio.wait_for(_until(lambda: first(timeline, "note", note="second_arrival") is not None),
                               STEP_S)
    assert result.room_id == "srv-room"
    assert answered.room_id == "srv-room" and answered.path == "push_1601" and answered.peer == "bob"
    event = first(timeline, "answered")
    assert event is not None and fields(event).get("dialect") == DIALECT_SIGNAL_REQ and fields(event).get("by") == "bob"
    assert fields(event).get("op_platform") == 2
    assert len(select(timeline, "answered")) == 1
    second = first(timeline, "note", note="second_arrival")
    assert second is not None and fields(second).get("path") == "unsolicited_1004"
    assert fields(second).get("first_path") == "push_1601" and fields(second).get("latency_diff_ms") >= 0
    acked = first(timeline, "invite_acked")
    assert acked is not None and fields(acked).get("room_id") == "srv-room" and fields(acked).get("temp_room_id").startswith("tmp_")


async def test_invite_request_and_later_actions_use_server_room(make_driver: DriverFactory) -> None:
    sent: list[rtc_pb2.SignalReq] = []

    async def gateway(conn: ServerConnection) -> None:
        for payload in (invite_ack("srv-9"), b"", b""):
            req = await recv_request(conn)
            sent.append(rtc_pb2.SignalReq.FromString(req.data))
            await reply(conn, req, payload)
        await hold(conn)

    async with ScriptedGateway(gateway) as gw:
        driver = make_driver(gw.url, "alice", platform_id=5)
        await driver.connect()
        room = (await driver.invite([peer("bob")], "audio", 45)).room_id
        await driver.cancel(room)
        await driver.hangup(room)
    inv = sent[0].invite.invitation
    assert sent[0].WhichOneof("payload") == "invite"
    assert (inv.inviterUserID, list(inv.inviteeUserIDList), inv.timeout, inv.mediaType) == ("alice", ["bob"], 45,
                                                                                          "audio")
    assert inv.roomID.startswith("tmp_") and inv.sessionType == 1 and inv.platformID == 5
    assert inv.initiateTime > 1_600_000_000_000 and sent[0].invite.userID == "alice"
    assert sent[0].invite.participant.userInfo.userID == "alice"
    assert sent[1].cancel.invitation.roomID == "srv-9" and sent[1].cancel.userID == "alice"
    assert sent[2].hungUp.invitation.roomID == "srv-9" and sent[2].hungUp.invitation.inviterUserID == "alice"


async def test_keeping_the_temporary_room_reproduces_call_not_found(make_driver: DriverFactory,
                                                                    timeline: Timeline) -> None:
    async def gateway(conn: ServerConnection) -> None:
        req = await recv_request(conn)
        await reply(conn, req, invite_ack("srv-1"))
        req = await recv_request(conn)
        room = rtc_pb2.SignalReq.FromString(req.data).cancel.invitation.roomID
        if room == "srv-1":
            await reply(conn, req, b"")
        else:
            await reply(conn, req, None, err_code=1801, err_msg="call not found")
        await hold(conn)

    async with ScriptedGateway(gateway) as gw:
        driver = make_driver(gw.url, adopt_server_room_id=False)
        await driver.connect()
        room = (await driver.invite([peer("bob")], "audio", 30)).room_id
        with pytest.raises(DriverError) as info:
            await driver.cancel(room)
    assert room.startswith("tmp_") and info.value.err_code == 1801
    refused = first(timeline, "action_refused")
    assert refused is not None and fields(refused).get("action") == "cancel" and "roomID" in fields(refused).get("explanation")


async def test_busy_invite_raises_with_busy_list(make_driver: DriverFactory, timeline: Timeline) -> None:
    async def busy(conn: ServerConnection) -> None:
        req = await recv_request(conn)
        await reply(conn, req, invite_ack("", busy=("bob",)), err_code=1802, err_msg="user is already in a call")
        await hold(conn)

    async with ScriptedGateway(busy) as gw:
        driver = make_driver(gw.url)
        await driver.connect()
        with pytest.raises(InviteRefusedError) as info:
            await driver.invite([peer("bob")], "audio", 30)
    assert info.value.err_code == 1802 and info.value.busy == ("bob",)
    refused = first(timeline, "invite_refused")
    assert refused is not None and fields(refused).get("busy") == ["bob"] and fields(refused).get("busy_from_reply") is True


@pytest.mark.parametrize("dialect", [DIALECT_BARE_INVITE, DIALECT_SIGNAL_REQ])
async def test_ringing_in_both_dialects_and_own_echo_ignored(make_driver: DriverFactory, timeline: Timeline,
                                                             dialect: str) -> None:
    inv = invitation("alice", "bob", "room-7", media="video")
    if dialect == DIALECT_BARE_INVITE:
        bare = rtc_pb2.SignalInviteReq(userID="alice")
        bare.invitation.CopyFrom(inv)
        content = bare.SerializeToString()
    else:
        content = signal_req("invite", inv, "alice").SerializeToString()
    accepted: list[rtc_pb2.SignalReq] = []

    async def gateway(conn: ServerConnection) -> None:
        # bob's own echo of something he sent: recorded, not a ringing
        own = signal_req("invite", invitation("bob", "carol", "room-x"), "bob").SerializeToString()
        await conn.send(push_frame([msg("bob", "carol", 1601, own, seq=1)]))
        await conn.send(push_frame([msg("alice", "bob", 1601, content, seq=2, msg_from=200)]))
        req = await recv_request(conn)
        accepted.append(rtc_pb2.SignalReq.FromString(req.data))
        await reply(conn, req, b"")
        await hold(conn)

    async with ScriptedGateway(gateway) as gw:
        driver = make_driver(gw.url, "bob", platform_id=2)
        await driver.connect()
        ringing = await notice_of(driver, "ringing")
        await driver.accept(ringing.room_id)
    assert ringing.room_id == "room-7" and ringing.peer == "alice" and ringing.data["dialect"] == dialect
    event = first(timeline, "ringing")
    assert event is not None and fields(event).get("via") == "push_1601" and fields(event).get("platform") == 2
    assert fields(event).get("media") == "video" and len(select(timeline, "ringing")) == 1
    assert first(timeline, "note", note="own_echo", room_id="room-x") is not None
    acc = accepted[0].accept
    assert acc.invitation.roomID == "room-7" and acc.invitation.inviterUserID == "alice"
    assert acc.opUserPlatformID == 2 and acc.userID == "bob"
    assert first(timeline, "action_acked", action="accept") is not None


async def test_unsolicited_reject_without_room_is_attributed(make_driver: DriverFactory,
                                                             timeline: Timeline) -> None:
    async def gateway(conn: ServerConnection) -> None:
        req = await recv_request(conn)
        await reply(conn, req, invite_ack("srv-2"))
        resp = rtc_pb2.SignalResp()
        resp.reject.SetInParent()
        await conn.send(resp_frame(1004, data=resp.SerializeToString()))
        await hold(conn)

    async with ScriptedGateway(gateway) as gw:
        driver = make_driver(gw.url)
        await driver.connect()
        await driver.invite([peer("bob")], "audio", 30)
        rejected = await notice_of(driver, "rejected")
    assert rejected.room_id == "srv-2" and rejected.path == "unsolicited_1004" and rejected.peer == "bob"
    event = first(timeline, "rejected")
    assert event is not None and fields(event).get("room_inferred") is True


async def test_server_cancel_without_operator_is_a_call_timeout(make_driver: DriverFactory,
                                                                timeline: Timeline) -> None:
    inv = invitation("alice", "bob", "room-t")
    bare = rtc_pb2.SignalInviteReq(userID="alice")
    bare.invitation.CopyFrom(inv)

    async def gateway(conn: ServerConnection) -> None:
        await conn.send(push_frame([msg("alice", "bob", 1601, bare.SerializeToString(), seq=1, msg_from=200)]))
        cancel = signal_req("cancel", inv, "")
        await conn.send(push_frame([msg("alice", "bob", 1601, cancel.SerializeToString(), seq=2, msg_from=200)]))
        await hold(conn)

    async with ScriptedGateway(gateway) as gw:
        driver = make_driver(gw.url, "bob")
        await driver.connect()
        await notice_of(driver, "ringing")
        timed_out = await notice_of(driver, "call_timeout")
    assert timed_out.room_id == "room-t" and timed_out.path == "push_1601"
    assert first(timeline, "cancelled") is None


async def test_signals_and_text_from_the_peer(make_driver: DriverFactory, timeline: Timeline) -> None:
    wrapped = json.dumps({"data": json.dumps({"type": "webrtc_signal", "signalType": "candidate",
                                              "roomID": "r1", "data": {"candidate": "c"}}),
                          "description": "", "extension": ""}).encode()

    async def gateway(conn: ServerConnection) -> None:
        await conn.send(push_frame([msg("bob", "alice", 110, wrapped, seq=3)]))
        await conn.send(push_frame([msg("bob", "alice", 101, b'{"content":"hey"}', seq=4)]))
        await conn.send(push_frame([msg("alice", "bob", 101, b'{"text":"mine"}', seq=5)]))
        await hold(conn)

    async with ScriptedGateway(gateway) as gw:
        driver = make_driver(gw.url)
        await driver.connect()
        signal = await notice_of(driver, "signal_received")
        text = await notice_of(driver, "text_received")
        await asyncio.wait_for(_until(lambda: first(timeline, "note", note="own_echo") is not None), STEP_S)
    assert signal.data["signal_type"] == "candidate" and signal.data["form"] == "custom-wrapper"
    assert signal.room_id == "r1" and signal.peer == "bob"
    assert text.data["text"] == "hey" and text.data["seq"] == 4
    received = select(timeline, "text_received")
    assert len(received) == 1 and received[0].sender == "bob" and received[0].form == "content"
    frame = first(timeline, "frame_in", req_identifier=2001)
    assert frame is not None and fields(frame).get("msgs")[0]["content_type"] == 110
    assert fields(frame).get("msgs")[0]["send_id"] == "bob"


async def test_garbage_frames_do_not_break_the_connection(make_driver: DriverFactory, timeline: Timeline) -> None:
    async def gateway(conn: ServerConnection) -> None:
        await conn.send(b"\x00not json")
        await conn.send("hello there")
        await conn.send(push_frame([msg("bob", "alice", 1601, b"\xff\xff\xff", seq=1)]))
        req = await recv_request(conn)
        await reply(conn, req, msg_pb2.SendMsgResp(serverMsgID="ok").SerializeToString())
        await hold(conn)

    async with ScriptedGateway(gateway) as gw:
        driver = make_driver(gw.url)
        await driver.connect()
        await driver.send_text(peer("bob"), "still here")
        assert driver.connected
    assert first(timeline, "note", note="undecodable_frame") is not None
    assert first(timeline, "note", note="unexpected_text_frame") is not None
    undecodable = first(timeline, "notice_undecodable")
    assert undecodable is not None and fields(undecodable).get("content_type") == 1601 and fields(undecodable).get("size") == 3


async def test_pull_history_walks_1001_then_1002(make_driver: DriverFactory) -> None:
    asked: list[Request] = []

    async def gateway(conn: ServerConnection) -> None:
        req = await recv_request(conn)
        asked.append(req)
        seqs = sdkws_pb2.GetMaxSeqResp()
        seqs.maxSeqs["si_alice_bob"] = 2
        await reply(conn, req, seqs.SerializeToString())
        req = await recv_request(conn)
        asked.append(req)
        pulled = sdkws_pb2.PullMessageBySeqsResp()
        pulled.msgs["si_alice_bob"].Msgs.extend([msg("alice", "bob", 101, b'{"text":"a"}', 1),
                                                  msg("bob", "alice", 1601, b"x", 2)])
        await reply(conn, req, pulled.SerializeToString())
        await hold(conn)

    async with ScriptedGateway(gateway) as gw:
        driver = make_driver(gw.url)
        await driver.connect()
        history = await driver.pull_history("bob")
    assert [m.seq for m in history] == [1, 2]
    assert asked[0].req_identifier == 1001 and sdkws_pb2.GetMaxSeqReq.FromString(asked[0].data).userID == "alice"
    pull = sdkws_pb2.PullMessageBySeqsReq.FromString(asked[1].data)
    assert asked[1].req_identifier == 1002
    assert (pull.seqRanges[0].conversationID, pull.seqRanges[0].begin, pull.seqRanges[0].end) == (
        "si_alice_bob", 1, 2)


def test_read_text_accepts_both_keys_and_raw() -> None:
    assert read_text(b'{"text":"a"}') == ("a", "text")
    assert read_text(b'{"content":"b"}') == ("b", "content")
    assert read_text(b"plain") == ("plain", "raw")


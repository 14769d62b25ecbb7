"""Opening handshake over real sockets: accepted forms, refusals as HTTP 200 JSON, isMsgResp."""

from __future__ import annotations

import asyncio
import json
import time

import jwt
from websockets.asyncio.client import connect

from callprobe.backends.kkim.server import EmbeddedGateway
from tests.backends.kkim.server.conftest import ClientFactory
from tests.backends.kkim.server.rawclient import (
    WAIT_S,
    RawClient,
    refused,
    user_token,
    ws_query,
)
from tests.conftest import GatewayFactory


async def test_missing_arguments_are_refused_with_1602_and_no_upgrade(gateway: EmbeddedGateway) -> None:
    token = await user_token(gateway.api_url, "alice")
    status, body = await refused(gateway.ws_url, "/?sendID=alice&platformID=5&sdkType=js")
    assert status == 200
    assert body["errCode"] == 1602 and body["errMsg"] == "args err, need token, sendID, platformID"
    assert "token" in body["errDlt"]
    status, body = await refused(gateway.ws_url, f"/?token={token}&platformID=5&sdkType=js")
    assert (status, body["errCode"]) == (200, 1602) and "sendID" in body["errDlt"]


async def test_refusal_body_is_json_with_content_type(gateway: EmbeddedGateway) -> None:
    from websockets.exceptions import InvalidStatus

    try:
        await connect(gateway.ws_url + "/?sendID=x", compression=None)
    except InvalidStatus as exc:
        assert exc.response.status_code == 200
        assert exc.response.headers["Content-Type"] == "application/json"
        assert set(json.loads(exc.response.body)) == {"errCode", "errMsg", "errDlt"}
    else:
        raise AssertionError("handshake without token was accepted")


async def test_platform_must_be_an_integer(gateway: EmbeddedGateway) -> None:
    token = await user_token(gateway.api_url, "alice")
    _status, body = await refused(gateway.ws_url, ws_query("alice", token, "web"))
    assert body["errCode"] == 1602 and "not an integer" in body["errDlt"]


async def test_gob_sdk_type_is_refused_clearly(gateway: EmbeddedGateway) -> None:
    token = await user_token(gateway.api_url, "alice")
    path = f"/?sendID=alice&token={token}&platformID=5"
    _, absent = await refused(gateway.ws_url, path)
    _, gob = await refused(gateway.ws_url, path + "&sdkType=go")
    _, other = await refused(gateway.ws_url, path + "&sdkType=swift")
    for body in (absent, gob):
        assert body["errCode"] == 1602 and "gob" in body["errDlt"] and "sdkType=js" in body["errDlt"]
    assert other["errCode"] == 1602 and "'swift' is unknown" in other["errDlt"]


async def test_token_for_another_user_or_platform_is_1502(gateway: EmbeddedGateway) -> None:
    token = await user_token(gateway.api_url, "alice", 5)
    _, body = await refused(gateway.ws_url, ws_query("bob", token, 5))
    assert body["errCode"] == 1502 and body["errMsg"] == "TokenInvalidError"
    _, body = await refused(gateway.ws_url, ws_query("alice", token, 1))
    assert body["errCode"] == 1502 and "platform 5" in body["errDlt"]


async def test_token_errors_map_to_upstream_codes(gateway: EmbeddedGateway) -> None:
    now = int(time.time())
    _, malformed = await refused(gateway.ws_url, ws_query("alice", "not-a-jwt"))
    assert malformed["errCode"] == 1503
    claims = {"UserID": "alice", "PlatformID": 5, "exp": now + 60, "iat": now}
    forged = jwt.encode(claims, "wrong-secret-of-32-bytes-or-more!")
    _, unknown = await refused(gateway.ws_url, ws_query("alice", forged))
    assert unknown["errCode"] == 1505
    secret = gateway.settings.secret
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expired = jwt.encode({"UserID": "alice", "PlatformID": 5, "exp": now - 5, "iat": now - 60}, secret)
        never_issued = jwt.encode({"UserID": "alice", "PlatformID": 5, "exp": now + 60, "iat": now}, secret)
    _, body = await refused(gateway.ws_url, ws_query("alice", expired))
    assert body["errCode"] == 1501 and body["errMsg"] == "TokenExpiredError"
    _, body = await refused(gateway.ws_url, ws_query("alice", never_issued))
    assert body["errCode"] == 1507


async def test_is_msg_resp_success_sends_a_status_text_frame(gateway: EmbeddedGateway) -> None:
    token = await user_token(gateway.api_url, "alice")
    client = await RawClient.connect(gateway.ws_url, "alice", token, isMsgResp="true")
    try:
        first = await asyncio.wait_for(client.texts.get(), WAIT_S)
        assert json.loads(first) == {"errCode": 0, "errMsg": "", "errDlt": ""}
    finally:
        await client.close()


async def test_is_msg_resp_refusal_upgrades_sends_json_then_closes(gateway: EmbeddedGateway) -> None:
    async with connect(gateway.ws_url + ws_query("alice", "garbage", isMsgResp="1"), compression=None) as ws:
        text = await asyncio.wait_for(ws.recv(), WAIT_S)
        assert json.loads(text)["errCode"] == 1503
        await asyncio.wait_for(ws.wait_closed(), WAIT_S)
        assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1008
        assert "handshake refused: 1503" in ws.protocol.close_rcvd.reason


async def test_second_login_on_the_same_platform_kicks_and_old_token_is_1506(
        gateway: EmbeddedGateway, make_client: ClientFactory) -> None:
    first = await make_client("alice", 5)
    other_platform = await make_client("alice", 1)
    second = await make_client("alice", 5)
    kick = await first.next_unsolicited(2002)
    assert (kick.err_code, kick.msg_incr, kick.data) == (0, "", None)
    closed = await first.wait_closed()
    assert closed.code == 1000 and "kicked" in closed.reason
    _, body = await refused(gateway.ws_url, ws_query("alice", first.token, 5))
    assert body["errCode"] == 1506 and body["errMsg"] == "TokenKickedError"
    # the other platform and the new connection are untouched
    assert (await other_platform.ping_text()).startswith('{"type":"pong"')
    assert (await second.ping_text()).startswith('{"type":"pong"')


async def test_compression_header_turns_gzip_on(make_client: ClientFactory) -> None:
    client = await make_client("alice", gzip_header=True)
    resp = await client.request(1001, b"")
    assert resp.err_code == 0 and resp.data == b""


async def test_unknown_user_cannot_get_a_token_without_auto_register(make_gateway: GatewayFactory) -> None:
    from tests.backends.kkim.server.rawclient import admin_token, api_post

    gw = await make_gateway(auto_register=False)
    admin = await admin_token(gw.api_url)
    _, body = await api_post(gw.api_url, "/auth/get_user_token", {"platformID": 5, "userID": "ghost"},
                             headers={"operationID": "x", "token": admin})
    assert body["errCode"] == 1004 and "not registered" in body["errDlt"]

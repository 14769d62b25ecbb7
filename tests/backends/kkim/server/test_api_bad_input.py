"""Bad input to the auth API (and tokens anywhere) gets the documented error, never a 500 or a traceback."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Iterator

import jwt
import pytest

from callprobe.backends.kkim.protocol._pb.openim import sdkws_pb2
from callprobe.backends.kkim.server import EmbeddedGateway
from tests.backends.kkim.server.conftest import ClientFactory
from tests.backends.kkim.server.rawclient import (
    WAIT_S,
    admin_token,
    api_post,
    refused,
    ws_query,
)

ENDPOINTS = ["/auth/get_admin_token", "/auth/get_user_token", "/auth/user_token", "/auth/parse_token",
             "/auth/force_logout", "/user/user_register"]
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    with caplog.at_level(logging.DEBUG):
        yield
    assert [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()] == []
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def forged_token(exp: object, iat: object = 0, user: str = "alice") -> str:
    """A token signed with the gateway's secret whose claims Python's JSON writes as NaN/Infinity."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jwt.encode({"UserID": user, "PlatformID": 5, "exp": exp, "iat": iat}, "openIM123", algorithm="HS256")


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_deeply_nested_json_is_1001_on_every_endpoint(gateway: EmbeddedGateway, path: str,
                                                             no_tracebacks: None) -> None:
    headers = {"operationID": "x", "token": await admin_token(gateway.api_url)}
    status, body = await api_post(gateway.api_url, path, None, headers=headers, raw=DEEP)
    assert status == 200
    assert body == {"errCode": 1001, "errMsg": "ArgsError", "errDlt": "body is not JSON: it nests too deeply"}


@pytest.mark.parametrize("path, body", [
    ("/auth/get_admin_token", b'{"secret":"openIM123","userID":"\\ud800"}'),
    ("/auth/user_token", b'{"secret":"openIM123","platformID":5,"userID":"a\\udfffb"}'),
    ("/auth/get_user_token", b'{"platformID":5,"userID":"\\udc00"}'),
    ("/user/user_register", b'{"users":[{"userID":"\\ud83d"}]}'),
    ("/user/user_register", b'{"users":[{"userID":"ok","nickname":"\\ud83d"}]}'),
    ("/auth/get_user_token", b'{"platformID":NaN,"userID":"bob"}'),
    ("/auth/get_user_token", b'{"platformID":1e999,"userID":"bob"}'),
    ("/auth/get_user_token", b'{"platformID":' + b"9" * 5000 + b',"userID":"bob"}'),
    ("/auth/get_user_token", b'\xff\xfe{}'),
])
async def test_surrogates_and_odd_numbers_are_1001(gateway: EmbeddedGateway, path: str, body: bytes,
                                                   no_tracebacks: None) -> None:
    headers = {"operationID": "x", "token": await admin_token(gateway.api_url)}
    status, reply = await api_post(gateway.api_url, path, None, headers=headers, raw=body)
    assert status == 200 and reply["errCode"] == 1001 and reply["errMsg"] == "ArgsError", reply
    assert not gateway.core.store.user_exists("ok")


@pytest.mark.parametrize("token", [
    forged_token(float("nan")), forged_token(float("inf")), forged_token(float("-inf")),
    forged_token(2_000_000_000, iat=float("nan")), "\ud800", "é.é.é",
], ids=["exp-nan", "exp-inf", "exp-minus-inf", "iat-nan", "surrogate", "non-ascii"])
async def test_malformed_tokens_are_1503_everywhere(gateway: EmbeddedGateway, make_client: ClientFactory,
                                                    token: str, no_tracebacks: None) -> None:
    _, parsed = await api_post(gateway.api_url, "/auth/parse_token", {"token": token})
    # a lone surrogate in a JSON body is not text at all: 1001, as for any other argument
    assert parsed["errCode"] == (1001 if token == "\ud800" else 1503), parsed
    # as the admin token header of an admin endpoint
    status, reply = await api_post(gateway.api_url, "/auth/get_user_token", {"platformID": 5, "userID": "x"},
                                   headers={"operationID": "x", "token": token.encode("utf-8", "surrogatepass")
                                            .decode("latin-1")})
    assert status == 200 and reply["errCode"] == 1503, reply
    # at the WebSocket handshake: the documented refusal, not HTTP 500
    if token.isascii():
        status, refusal = await refused(gateway.ws_url, ws_query("alice", token))
        assert status == 200 and refusal["errCode"] == 1503
    # in a request's token field: errCode 1002, and the connection stays (not close 1011)
    alice = await make_client("alice")
    resp = await alice.request(1001, sdkws_pb2.GetMaxSeqReq(userID="alice"), token=token)
    assert resp.err_code == 1002
    assert (await alice.request(1001, sdkws_pb2.GetMaxSeqReq(userID="alice"))).err_code == 0


async def test_a_header_token_that_is_not_utf8_is_1503(gateway: EmbeddedGateway, no_tracebacks: None) -> None:
    host, port = gateway.api_url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(b"POST /auth/get_user_token HTTP/1.1\r\nHost: x\r\noperationID: x\r\ntoken: \xff\xfe.\x80\r\n"
                     b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
        reply = await asyncio.wait_for(reader.read(), WAIT_S)
    finally:
        writer.close()
    assert reply.startswith(b"HTTP/1.1 200") and b'"errCode":1503' in reply

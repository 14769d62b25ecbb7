"""Thousands of odd requests at the auth API: each gets the documented envelope, none a 500 or a traceback.

The WebSocket side has the same property in ``test_fuzz.py``. Every well-formed
HTTP request to an endpoint must be answered HTTP 200 with
``{errCode, errMsg, errDlt[, data]}`` and an upstream code the API documents;
bytes that are not HTTP may get a 4xx or a close. Nothing may be logged at
ERROR, and no log record may carry a traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.client
import json
import logging
import socket
import warnings
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callprobe.backends.kkim.server import ThreadedGateway
from tests.backends.kkim.server.rawclient import admin_token, user_token
from tests.conftest import BASE

EXAMPLES = 600
TIMEOUT_S = 5.0
DOCUMENTED = {0, 1001, 1002, 1004, 1102, 1501, 1502, 1503, 1504, 1505, 1506, 1507}
ENDPOINTS = ["/auth/get_admin_token", "/auth/get_user_token", "/auth/user_token", "/auth/parse_token",
             "/auth/force_logout", "/user/user_register"]
KEYS = ["secret", "userID", "platformID", "token", "users", "nickname", "faceURL"]


def _forged(exp: float) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jwt.encode({"UserID": "u", "PlatformID": 5, "exp": exp, "iat": 0}, "openIM123", algorithm="HS256")


text = st.one_of(st.text(max_size=16), st.sampled_from(["imAdmin", "openIM123", "alice", "a\nb", "\ud800x", ""]))
leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), text)
values = st.recursive(leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)), max_leaves=8)
objects = st.dictionaries(st.sampled_from(KEYS), values, max_size=4)
raw_bodies = st.one_of(
    objects.map(lambda o: json.dumps(o).encode()),                   # NaN/Infinity and \ud800 escapes included
    st.integers(1, 60_000).map(lambda n: b"[" * n + b"]" * n),         # deep nesting
    st.integers(1, 6000).map(lambda n: b'{"platformID":' + b"9" * n + b',"userID":"x"}'),  # long numbers
    st.binary(max_size=64),
    st.sampled_from([b"", b"null", b"[]", b'"x"', b"{", b'{"users":[[]]}', b'{"users":[{"userID":7}]}']),
    st.sampled_from([b'{"secret":"openIM123","userID":"imAdmin"}', b'{"platformID":5,"userID":"fz"}',
                     b'{"secret":"openIM123","platformID":2,"userID":"fz"}', b'{"users":[{"userID":"fz2"}]}']),
)


@dataclasses.dataclass
class Tokens:
    admin: str
    user: str


def _headers(tokens: Tokens) -> st.SearchStrategy[dict[str, Any]]:
    token = st.one_of(st.none(), st.just(tokens.admin), st.just(tokens.user), st.text(max_size=20),
                      st.sampled_from([_forged(float("nan")), _forged(float("inf")), "a.b.c", "x" * 300]),
                      st.binary(min_size=1, max_size=12))
    return st.fixed_dictionaries({"operationID": st.one_of(st.none(), st.just("op"), st.just("op"),
                                                           st.text(max_size=8)),
                                  "token": token,
                                  "Content-Encoding": st.sampled_from([None, None, "gzip", "br"])})


def _post(api: tuple[str, int], path: str, headers: dict[str, Any], body: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(*api, timeout=TIMEOUT_S)
    try:
        conn.putrequest("POST", path, skip_accept_encoding=True)
        for name, value in headers.items():
            if value is None:
                continue
            if isinstance(value, str):
                value = value.encode("utf-8", "surrogatepass")
            # a valid field value (RFC 9110 5.5): no controls but tab; bytes over 0x7f allowed
            conn.putheader(name, bytes(b for b in value if b == 9 or 32 <= b != 127))
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def _raw(api: tuple[str, int], data: bytes) -> bytes:
    with socket.create_connection(api, timeout=TIMEOUT_S) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        return b"".join(chunks)


def test_the_auth_api_answers_every_input_with_the_envelope(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG), ThreadedGateway(BASE) as gw:
        host, port = gw.api_url.removeprefix("http://").rsplit(":", 1)
        api = (host, int(port))
        tokens = Tokens(asyncio.run(admin_token(gw.api_url)), asyncio.run(user_token(gw.api_url, "fuzzer")))
        seen: dict[int, int] = {}

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(path=st.sampled_from(ENDPOINTS), headers=_headers(tokens), body=raw_bodies,
               garbage=st.one_of(st.none(), st.binary(max_size=80)))
        def throw(path: str, headers: dict[str, Any], body: bytes, garbage: bytes | None) -> None:
            if garbage is not None:  # not HTTP at all: a 4xx or a close, never a 500
                reply = _raw(api, garbage + b"\r\n\r\n")
                assert not reply.startswith(b"HTTP/1.1 5"), reply[:200]
            status, raw = _post(api, path, headers, body)
            assert status == 200, (status, raw[:200])
            reply = json.loads(raw)
            assert set(reply) - {"data"} == {"errCode", "errMsg", "errDlt"}, reply
            assert reply["errCode"] in DOCUMENTED, (path, headers, body[:100], reply)
            seen[reply["errCode"]] = seen.get(reply["errCode"], 0) + 1

        throw()
    assert [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert seen.get(1001, 0) > 100 and seen.get(1503, 0) > 10 and seen.get(0, 0) > 0, seen

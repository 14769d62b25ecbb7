"""Register and login: statuses, bodies, the token's claims, and tokens that must not pass."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest

from callprobe.backends.rooms.server import EmbeddedRoomServer
from tests.backends.rooms.server.clients import PASSWORD, Api, Party
from tests.backends.rooms.server.conftest import BASE, tracebacks, warnings_of


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_register_then_login_returns_the_user_and_a_token_with_its_claims(api: Api) -> None:
    registered = await api.register("alice")
    assert registered.status == 201
    user = registered.body["user"]
    assert set(user) == {"id", "uuid", "username"}
    assert isinstance(user["id"], int) and user["username"] == "alice" and len(user["uuid"]) == 36
    login = await api.login("alice")
    assert login.status == 200
    assert login.body["user"] == user
    claims = jwt.decode(login.body["token"], BASE.secret, algorithms=["HS256"])
    assert claims["user_id"] == user["id"] and claims["user_uuid"] == user["uuid"]
    assert claims["username"] == "alice"
    assert time.time() + BASE.token_expire_s - 60 < claims["exp"] <= time.time() + BASE.token_expire_s + 1


async def test_ids_are_distinct_integers_in_order(api: Api) -> None:
    first, second = await api.party("first"), await api.party("second")
    assert second.id > first.id and first.uuid != second.uuid


@pytest.mark.parametrize("username, password", [("alice", "wrong password"), ("nobody", PASSWORD)])
async def test_bad_credentials_are_401_with_an_error(api: Api, username: str, password: str) -> None:
    await api.register("alice")
    reply = await api.login(username, password)
    assert reply.status == 401
    assert reply.body == {"error": "invalid username or password"}


async def test_a_taken_username_is_409(api: Api) -> None:
    assert (await api.register("alice")).status == 201
    reply = await api.register("alice", "another password")
    assert reply.status == 409 and "taken" in reply.body["error"]


@pytest.mark.parametrize("body, words", [
    ({"password": PASSWORD}, "username is required"),
    ({"username": "alice"}, "password is required"),
    ({"username": 7, "password": PASSWORD}, "username is required"),
    ({"username": "al", "password": PASSWORD}, "username must be 3 to 50 characters"),
    ({"username": "a" * 51, "password": PASSWORD}, "username must be 3 to 50 characters"),
    ({"username": "alice", "password": "short"}, "password must be 6 to 128 characters"),
])
async def test_missing_or_invalid_fields_are_422(api: Api, body: dict[str, Any], words: str) -> None:
    reply = await api.request("POST", "/api/v1/auth/register", body=body)
    assert reply.status == 422
    assert reply.body == {"error": words.replace(" is required", " is required (a non-empty string)")
                          if "required" in words else words}


@pytest.mark.parametrize("data, words", [
    ("not json", "body is not acceptable JSON: not JSON"),
    ("[1, 2]", "body must be a JSON object"),
    ('{"username": NaN}', "NaN is not JSON"),
    ('{"username": 1e999}', "out of range"),
    ('{"username": "\\ud800abc", "password": "secret-pw"}', "lone surrogate"),
    ("[" * 40 + "]" * 40, "nested deeper than 32"),
    (b"\xff\xfe{}", "not UTF-8"),
])
async def test_bodies_that_are_not_a_strict_json_object_are_400(api: Api, data: str | bytes, words: str) -> None:
    reply = await api.request("POST", "/api/v1/auth/register", data=data)
    assert reply.status == 400
    assert words in reply.body["error"]


def forged(claims: dict[str, Any], secret: str = BASE.secret, raw_payload: str | None = None) -> str:
    """An HS256 token signed with ``secret`` over any payload text (NaN and Infinity included)."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    head = b64(b'{"alg":"HS256","typ":"JWT"}')
    body = b64((raw_payload if raw_payload is not None else json.dumps(claims)).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


@pytest.mark.parametrize("make_token, words", [
    (lambda p: "not-a-jwt", "not"),
    (lambda p: forged({"user_id": p.id, "user_uuid": p.uuid, "username": p.username, "exp": 2e9}, "other"),
     "signature"),
    (lambda p: forged({}, raw_payload='{"user_id": NaN, "user_uuid": "u", "username": "x", "exp": 2e9}'),
     "user_id"),
    (lambda p: forged({}, raw_payload=f'{{"user_id": {p.id}, "user_uuid": "{p.uuid}", "username": "x", '
                                      '"exp": Infinity}'), "exp"),
    (lambda p: forged({}, raw_payload=f'{{"user_id": {p.id}, "user_uuid": "{p.uuid}", "username": "x", '
                                      '"exp": NaN}'), "exp"),
    (lambda p: forged({"user_id": 10**30, "user_uuid": p.uuid, "username": "x", "exp": 2e9}), "user_id"),
    (lambda p: forged({"user_id": True, "user_uuid": p.uuid, "username": "x", "exp": 2e9}), "user_id"),
    (lambda p: forged({"user_id": p.id, "user_uuid": p.uuid, "username": "x", "exp": 10**400}), "exp"),
    (lambda p: forged({"user_id": p.id, "user_uuid": p.uuid, "username": "x", "exp": 1}), "expired"),
    (lambda p: forged({"user_id": p.id, "user_uuid": "someone-else", "username": "x", "exp": 2e9}),
     "no user"),
    (lambda p: forged({"user_id": 999, "user_uuid": p.uuid, "username": "x", "exp": 2e9}), "no user"),
    (lambda p: forged({}, raw_payload="[" * 1500 + "]" * 1500), "not"),
], ids=["garbage", "other-secret", "nan-id", "inf-exp", "nan-exp", "huge-id", "bool-id", "huge-exp",
        "expired", "other-uuid", "unknown-id", "deep"])
async def test_tokens_that_name_nobody_are_401_without_a_traceback(
        server: EmbeddedRoomServer, api: Api, server_log: pytest.LogCaptureFixture, make_token: Any,
        words: str) -> None:
    party = await api.party("alice")
    token = make_token(party)
    reply = await api.request("GET", "/api/v1/calls/incoming", headers={"Authorization": f"Bearer {token}"})
    assert reply.status == 401
    assert words in reply.body["error"]
    assert tracebacks(server_log) == []
    assert len(warnings_of(server_log, "401")) == 1


async def test_a_good_token_passes(api: Api) -> None:
    party = await api.party("alice")
    token = forged({"user_id": party.id, "user_uuid": party.uuid, "username": "alice", "exp": 2e9})
    reply = await api.request("GET", "/api/v1/calls/incoming", party=Party(party.id, party.uuid, "", token))
    assert reply.status == 200 and reply.body == {"calls": []}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}])
async def test_requests_without_a_bearer_token_are_401(api: Api, headers: dict[str, str]) -> None:
    reply = await api.request("GET", "/api/v1/calls/incoming", headers=headers)
    assert reply.status == 401 and "authorization required" in reply.body["error"]


async def test_a_newline_in_a_username_cannot_forge_a_log_line(api: Api,
                                                               server_log: pytest.LogCaptureFixture) -> None:
    evil = "mallory\nWARNING callprobe.server.rooms: forged"
    assert (await api.register(evil)).status == 201
    assert (await api.login(evil, "wrong password")).status == 401
    [refusal] = warnings_of(server_log, "401")
    line = refusal.getMessage()
    assert "\n" not in line and "mallory\\nWARNING" in line
    assert all("\n" not in r.getMessage() for r in server_log.records if r.name.startswith("callprobe"))

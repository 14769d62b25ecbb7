"""REST: register, login and history answer like the FastAPI backend (201/200/401/409/422, ``{detail}``)."""

from __future__ import annotations

import time

import pytest

from tests.backends.socketio.server.conftest import PASSWORD, Chat, claims_of, sign

REGISTER, LOGIN, HISTORY = "/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/chat/messages"


async def test_register_gives_integer_ids_in_order(chat: Chat) -> None:
    first = await chat.rest("POST", REGISTER, json={"username": "alice", "password": PASSWORD})
    second = await chat.rest("POST", REGISTER, json={"username": "bob", "password": PASSWORD})
    assert first == (201, {"id": 1, "username": "alice"})
    assert second == (201, {"id": 2, "username": "bob"})


async def test_register_taken_username_is_409(chat: Chat) -> None:
    await chat.account("alice")
    status, body = await chat.rest("POST", REGISTER, json={"username": "alice", "password": "other"})
    assert status == 409
    assert body == {"detail": "Username already registered"}


async def test_register_missing_field_is_422_in_fastapi_shape(chat: Chat) -> None:
    status, body = await chat.rest("POST", REGISTER, json={"username": "alice"})
    assert status == 422
    assert body == {"detail": [{"type": "missing", "loc": ["body", "password"], "msg": "Field required",
                                "input": {"username": "alice"}}]}


async def test_register_lists_every_bad_field(chat: Chat) -> None:
    status, body = await chat.rest("POST", REGISTER, json={"username": 7, "password": ""})
    assert status == 422
    assert [(e["type"], e["loc"]) for e in body["detail"]] == [
        ("string_type", ["body", "username"]), ("string_too_short", ["body", "password"])]


async def test_login_returns_bearer_token_naming_the_user(chat: Chat) -> None:
    await chat.account("alice")
    status, body = await chat.rest("POST", LOGIN, json={"username": "alice", "password": PASSWORD})
    assert status == 200
    assert body["token_type"] == "bearer" and body["user"] == {"id": 1, "username": "alice"}
    claims = claims_of(body["access_token"])
    assert claims["sub"] == "1" and claims["exp"] > time.time()


async def test_login_refusals_are_401_with_detail(chat: Chat) -> None:
    await chat.account("alice")
    wrong = await chat.rest("POST", LOGIN, json={"username": "alice", "password": "nope"})
    unknown = await chat.rest("POST", LOGIN, json={"username": "nobody", "password": PASSWORD})
    assert wrong == unknown == (401, {"detail": "Incorrect username or password"})


async def test_history_needs_a_bearer_token(chat: Chat) -> None:
    alice = await chat.account("alice")
    missing = await chat.rest("GET", HISTORY, params={"user_id": "2"})
    forged = sign({"sub": str(alice.id), "exp": int(time.time()) + 60}, "not-the-secret" * 3)
    bad = await chat.rest("GET", HISTORY, params={"user_id": "2"}, headers={"Authorization": f"Bearer {forged}"})
    assert missing == (401, {"detail": "Not authenticated"})
    assert bad == (401, {"detail": "Could not validate credentials"})


async def test_history_query_is_validated_like_fastapi(chat: Chat) -> None:
    alice = await chat.account("alice")
    auth = {"Authorization": f"Bearer {alice.token}"}
    status, body = await chat.rest("GET", HISTORY, params={"page": "0", "limit": "101"}, headers=auth)
    assert status == 422
    assert [(e["type"], e["loc"]) for e in body["detail"]] == [
        ("missing", ["query", "user_id"]), ("greater_than_equal", ["query", "page"]),
        ("less_than_equal", ["query", "limit"])]
    status, body = await chat.rest("GET", HISTORY, params={"user_id": "bob"}, headers=auth)
    assert status == 422 and body["detail"][0]["type"] == "int_parsing"


async def test_history_pages_newest_first_each_page_oldest_first(chat: Chat) -> None:
    alice, alice_peer = await chat.online("alice")
    bob = await chat.account("bob")
    for n in range(5):
        sender = alice_peer
        await sender.call("send_message", {"target_user_id": bob.id, "message": f"m{n}"})
    auth = {"Authorization": f"Bearer {bob.token}"}
    status, page1 = await chat.rest("GET", HISTORY, params={"user_id": alice.id, "limit": 2}, headers=auth)
    _, page3 = await chat.rest("GET", HISTORY, params={"user_id": alice.id, "limit": 2, "page": 3}, headers=auth)
    _, page4 = await chat.rest("GET", HISTORY, params={"user_id": alice.id, "limit": 2, "page": 4}, headers=auth)
    assert status == 200
    assert [m["message"] for m in page1["messages"]] == ["m3", "m4"]
    assert (page1["total"], page1["page"], page1["limit"]) == (5, 1, 2)
    assert [m["message"] for m in page3["messages"]] == ["m0"]
    assert page4["messages"] == [] and page4["total"] == 5


async def test_history_holds_only_the_two_users_conversation(chat: Chat) -> None:
    alice, alice_peer = await chat.online("alice")
    bob = await chat.account("bob")
    carol = await chat.account("carol")
    await alice_peer.call("send_message", {"target_user_id": bob.id, "message": "to bob"})
    await alice_peer.call("send_message", {"target_user_id": carol.id, "message": "to carol"})
    _, body = await chat.rest("GET", HISTORY, params={"user_id": alice.id},
                              headers={"Authorization": f"Bearer {bob.token}"})
    assert [m["message"] for m in body["messages"]] == ["to bob"]


async def test_unknown_paths_and_methods_answer_json_detail(chat: Chat) -> None:
    assert await chat.rest("GET", "/api/v1/nothing") == (404, {"detail": "Not Found"})
    assert await chat.rest("GET", REGISTER) == (405, {"detail": "Method Not Allowed"})


# ------------------------------------------------------------- hostile bodies

async def test_body_over_the_cap_is_413(chat: Chat) -> None:
    status, body = await chat.rest("POST", REGISTER, data=b'{"username": "' + b"x" * 20_000 + b'"}',
                                   headers={"Content-Type": "application/json"})
    assert (status, body) == (413, {"detail": "request body larger than 16384 bytes"})


@pytest.mark.parametrize(("raw", "kind", "loc"), [
    (b"", "missing", ["body"]),
    (b"{not json", "json_invalid", ["body", 1]),
    (b'\xff\xfe{"a": 1}', "json_invalid", ["body", 0]),
    (b'{"username": NaN, "password": "x"}', "json_invalid", ["body", 0]),
    (b'{"username": 1e999, "password": "x"}', "json_invalid", ["body", 0]),
    (b"[" * 5000 + b"]" * 5000, "json_invalid", ["body", 0]),
    (b"[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]", "json_invalid", ["body", 0]),
    (b'["alice", "pw"]', "model_attributes_type", ["body"]),
    (b'"alice"', "model_attributes_type", ["body"]),
])
async def test_unparseable_bodies_are_422(chat: Chat, raw: bytes, kind: str, loc: list[object]) -> None:
    status, body = await chat.rest("POST", REGISTER, data=raw, headers={"Content-Type": "application/json"})
    assert status == 422
    assert (body["detail"][0]["type"], body["detail"][0]["loc"]) == (kind, loc)


@pytest.mark.parametrize(("username", "kind"), [
    ("\ud800", "string_unicode"),
    ("mallory\nWARNING forged", "string_pattern_mismatch"),
    ("tab\there", "string_pattern_mismatch"),
    ("u" * 51, "string_too_long"),
    (["alice"], "string_type"),
    (None, "string_type"),
])
async def test_bad_usernames_are_422_and_not_stored(chat: Chat, username: object, kind: str) -> None:
    status, body = await chat.rest("POST", REGISTER, json={"username": username, "password": "pw"})
    assert status == 422 and body["detail"][0]["type"] == kind
    assert chat.server.handlers.store.user(1) is None


async def test_oversized_password_is_refused_before_hashing(chat: Chat) -> None:
    status, body = await chat.rest("POST", LOGIN, json={"username": "alice", "password": "p" * 129})
    assert status == 422 and body["detail"][0]["ctx"] == {"max_length": 128}


async def test_bad_bearer_headers_are_401(chat: Chat) -> None:
    for header in ("Bearer", "Basic abc", "Bearer " + "a" * 5000, "Bearer a.b.c", "bearer \u00e9"):
        status, body = await chat.rest("GET", HISTORY, params={"user_id": "1"}, headers={"Authorization": header})
        assert status == 401 and body["detail"] in ("Not authenticated", "Could not validate credentials")


async def test_huge_query_numbers_are_422_not_overflow(chat: Chat) -> None:
    alice = await chat.account("alice")
    auth = {"Authorization": f"Bearer {alice.token}"}
    status, body = await chat.rest("GET", HISTORY, params={"user_id": "9" * 40}, headers=auth)
    assert status == 422 and body["detail"][0]["type"] == "int_parsing"
    status, body = await chat.rest("GET", HISTORY, params={"user_id": "2", "page": "9" * 18}, headers=auth)
    assert status == 200 and body["messages"] == []


async def test_engineio_refusals_are_json_too(chat: Chat) -> None:
    assert await chat.rest("GET", "/socket.io/?EIO=4&transport=polling&sid=bogus") == (
        400, {"detail": "Invalid session bogus"})
    status, body = await chat.rest("GET", "/socket.io/?EIO=3&transport=polling")
    assert status == 400 and "unsupported version" in body["detail"]
    status, body = await chat.rest("GET", "/socket.io/?EIO=4&transport=polling",
                                   headers={"Origin": "http://evil.example"})
    assert (status, body) == (400, {"detail": "http://evil.example is not an accepted origin."})

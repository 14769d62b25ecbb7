"""Who a room join runs as, under each identity rule and fault, as a pure function."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from callprobe.backends.rooms.server.errors import HandshakeCrash, Refusal
from callprobe.backends.rooms.server.faults import Faults
from callprobe.backends.rooms.server.identity import (
    VIA_DEFAULT,
    VIA_TOKEN,
    VIA_USER_ID,
    Identity,
    resolve,
)
from callprobe.backends.rooms.server.store import User

ALICE, BOB = User(1, "u-1", "alice"), User(2, "u-2", "bob")
CALL = "c0ffee00-0000-0000-0000-000000000000"


def token_user(token: str) -> User:
    if token == "alice-token":
        return ALICE
    raise Refusal(HTTPStatus.UNAUTHORIZED, "bad token")


def lookup(user_id: int) -> User | None:
    return {1: ALICE, 2: BOB}.get(user_id)


def join(query: dict[str, str], headers: dict[str, str] | None = None, **faults: bool) -> Identity:
    return resolve(CALL, query, headers or {}, Faults(**faults), token_user, lookup)


@pytest.mark.parametrize("query, headers", [
    ({"token": "alice-token"}, {}),
    ({}, {"Authorization": "bearer alice-token"}),
    ({"token": "alice-token", "user_id": "1"}, {"X-User-ID": " 1 "}),
    ({"token": " alice-token "}, {"Authorization": "Bearer garbage"}),  # the query wins
])
def test_a_token_names_the_user(query: dict[str, str], headers: dict[str, str]) -> None:
    assert join(query, headers) == Identity(1, "alice", VIA_TOKEN)


@pytest.mark.parametrize("query, headers, status", [
    ({}, {}, 401),
    ({"token": ""}, {"Authorization": "Basic alice-token"}, 401),
    ({"user_id": "1"}, {}, 401),
    ({"token": "garbage"}, {}, 401),
    ({"token": "alice-token", "user_id": "2"}, {}, 403),
    ({"token": "alice-token", "user_id": "٣"}, {}, 403),  # a digit, but not an ASCII one
    ({"token": "alice-token"}, {"X-User-ID": "1.0"}, 403),
])
def test_the_healthy_rules_refuse(query: dict[str, str], headers: dict[str, str], status: int) -> None:
    with pytest.raises(Refusal) as refused:
        join(query, headers)
    assert refused.value.status == status


def test_trust_user_id_takes_the_claimed_id_without_a_token_check() -> None:
    assert join({"user_id": "2", "token": "garbage"}, trust_user_id=True) == Identity(2, "bob", VIA_USER_ID)
    assert join({}, {"X-User-ID": "2"}, trust_user_id=True) == Identity(2, "bob", VIA_USER_ID)
    assert join({"user_id": "99"}, trust_user_id=True) == Identity(99, "", VIA_USER_ID)  # the party check refuses
    assert join({"token": "alice-token"}, trust_user_id=True).via == VIA_TOKEN
    with pytest.raises(Refusal, match="user_id must be a user id"):
        join({"user_id": "bob"}, trust_user_id=True)


def test_handshake_crash_is_any_join_without_a_token() -> None:
    for query in ({}, {"user_id": "1"}):
        with pytest.raises(HandshakeCrash):
            join(query, handshake_crash=True)
    assert join({"token": "alice-token"}, handshake_crash=True).key == 1


def test_default_identity_is_the_last_resort_only() -> None:
    default = join({}, default_identity=True)
    assert default == Identity(f"test-user-{CALL}", f"test-user-{CALL}", VIA_DEFAULT) and not default.checked
    with pytest.raises(Refusal):
        join({"user_id": "1"}, default_identity=True)  # an id without a token is still refused
    with pytest.raises(Refusal):
        join({"token": "garbage"}, default_identity=True)

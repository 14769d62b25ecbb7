"""Tokens and password hashes, without a server."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from callprobe.backends.socketio.server.auth import (
    MAX_TOKEN_CHARS,
    TokenError,
    Tokens,
    check_password,
    hash_password,
)

SECRET = "a-secret-of-at-least-thirty-two-bytes"
NOW = 1_700_000_000.0


def forged(payload: str, secret: str = SECRET, alg: str = "HS256") -> str:
    """A token with exactly ``payload`` as its claims, signed with ``secret``."""
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    head = b64(f'{{"alg":"{alg}","typ":"JWT"}}'.encode())
    body = b64(payload.encode())
    return f"{head}.{body}." + b64(hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())


def test_issued_token_names_its_user() -> None:
    tokens = Tokens(SECRET, 10**9)      # issued at NOW, valid for decades: checked against the clock
    assert tokens.user_id(tokens.issue(42, NOW)) == 42


@pytest.mark.parametrize(("token", "reason"), [
    (forged('{"sub":"1","exp":NaN}'), "must be an integer"),
    (forged('{"sub":"1","exp":Infinity}'), "must be an integer"),
    (forged('{"sub":"1","exp":9999999999,"iat":NaN}'), "must be an integer"),
    (forged('{"sub":1,"exp":9999999999}'), "Subject must be a string"),
    (forged('{"sub":"01","exp":9999999999}'), "not a user id"),
    (forged('{"sub":"99999999999999999999","exp":9999999999}'), "not a user id"),
    (forged('{"sub":"\\ud800","exp":9999999999}'), "not a user id"),
    (forged('{"exp":9999999999}'), "sub"),
    (forged('{"sub":"1","exp":1}'), "token expired"),
    (forged('{"sub":"1","exp":9999999999}', secret="another-secret-of-thirty-two-bytes!"), "does not verify"),
    (forged('{"sub":"1","exp":9999999999}', alg="none"), "invalid token"),
    (forged("[1,2]"), "invalid token"),
    ("a.b", "invalid token"),
    ("x" * (MAX_TOKEN_CHARS + 1), "longer than"),
    (None, "non-empty string"),
])
def test_bad_tokens_say_why(token: object, reason: str) -> None:
    with pytest.raises(TokenError, match=reason):
        Tokens(SECRET, 3600).user_id(token)


def test_password_hash_checks_and_costs_the_same_for_unknown_users() -> None:
    stored = hash_password("pw", 1000)
    assert stored.startswith("pbkdf2_sha256$1000$")
    assert check_password("pw", stored, 1000) and not check_password("PW", stored, 1000)
    assert not check_password("pw", None, 1000)
    assert hash_password("pw", 1000) != stored          # salted

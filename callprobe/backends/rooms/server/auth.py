"""Passwords and tokens (``docs/backends/rooms.md#tokens``).

Tokens are HS256 JWTs with the claims ``user_id`` (an integer), ``user_uuid``,
``username`` and ``exp``. A token is good when its signature checks out, it
has not expired and it names a user of this database (by id *and* uuid, so a
token from an earlier in-memory run never names a newer user who got the same
id). Claims are checked by type here rather than trusted to PyJWT: a token
signed with the right secret may still carry ``NaN``, ``Infinity`` or huge
numbers, and those must end in a 401 like any other bad token.

Passwords are stored as PBKDF2-HMAC-SHA256 with a random salt; hashing is
slow on purpose, so the API runs it off the event loop.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import math
import os
import warnings
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from callprobe.backends.rooms.server.store import MAX_ID, Store, User

#: a token longer than this is refused unread
MAX_TOKEN_CHARS = 4096

_SCHEME = "pbkdf2_sha256"


class TokenRefused(Exception):
    """A token that does not identify a user; the message says why."""


@dataclass(frozen=True)
class Claims:
    user_id: int
    user_uuid: str
    username: str
    exp: float


def hash_password(password: str, iterations: int, salt: bytes | None = None) -> str:
    """``pbkdf2_sha256$iterations$salt$hash`` (hex) for a password that is valid Unicode."""
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{_SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant time in the digest comparison)."""
    try:
        scheme, rounds, salt, digest = stored.split("$")
        expected = bytes.fromhex(digest)
        actual = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), bytes.fromhex(salt), int(rounds))
    except ValueError:
        return False
    return scheme == _SCHEME and hmac.compare_digest(actual, expected)


def _quiet(call: Any, *args: Any, **kwargs: Any) -> Any:
    # HS256 secrets shorter than 32 bytes are what such services use; PyJWT warns about it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return call(*args, **kwargs)


def _finite(value: Any) -> float | None:
    """``value`` as a float if it is a finite JSON number (``True`` is not one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return number if math.isfinite(number) else None


class Authority:
    """Issues and checks the server's tokens."""

    def __init__(self, secret: str, expire_s: int, store: Store) -> None:
        self.secret = secret
        self.expire_s = expire_s
        self.store = store

    def issue(self, user: User, now: float) -> str:
        claims = {"user_id": user.id, "user_uuid": user.uuid, "username": user.username,
                  "exp": int(now) + self.expire_s}
        token: str = _quiet(jwt.encode, claims, self.secret, algorithm="HS256")
        return token

    def claims(self, token: str, now: float) -> Claims:
        """Decode and check ``token`` without looking at the store.

        Raises:
            TokenRefused: not a JWT, wrong signature or algorithm, claims of
                the wrong type or out of range, expired.
        """
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenRefused(f"token longer than {MAX_TOKEN_CHARS} characters")
        try:
            raw = _quiet(jwt.decode, token, self.secret, algorithms=["HS256"],
                         options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                  "verify_sub": False, "verify_jti": False})
        except jwt.InvalidSignatureError:
            raise TokenRefused("token signature does not match") from None
        except jwt.InvalidTokenError as exc:
            raise TokenRefused(f"token is not valid: {str(exc)[:80]}") from None
        except (ValueError, TypeError, OverflowError, RecursionError, binascii.Error):
            raise TokenRefused("token is not a JWT") from None
        if not isinstance(raw, dict):
            raise TokenRefused("token payload is not an object")
        user_id, user_uuid, username, exp = (raw.get(k) for k in ("user_id", "user_uuid", "username", "exp"))
        if isinstance(user_id, bool) or not isinstance(user_id, int) or not 0 < user_id <= MAX_ID:
            raise TokenRefused("token claim user_id is not a user id")
        if not isinstance(user_uuid, str) or not isinstance(username, str):
            raise TokenRefused("token claims user_uuid and username must be strings")
        expires = _finite(exp)
        if expires is None:
            raise TokenRefused("token claim exp is not a finite number")
        if now >= expires:
            raise TokenRefused("token expired")
        return Claims(user_id, user_uuid, username, expires)

    def user(self, token: str, now: float) -> User:
        """The user ``token`` names; ``TokenRefused`` if it names nobody here."""
        claims = self.claims(token, now)
        user = self.store.user(claims.user_id)
        if user is None or user.uuid != claims.user_uuid:
            raise TokenRefused("token names no user of this server")
        return user

"""Access tokens (HS256 JWT) and password hashes (``docs/backends/socketio.md#register-and-login``).

A token's claims are ``sub`` (the user id as a decimal string, as RFC 7519
§4.1.2 wants a string) and ``exp``. Anything else about a token that is not
exactly that (a bad signature, another algorithm, ``exp`` NaN or Infinity, a
``sub`` that is not a decimal id) is a ``TokenError`` whose text says which,
never an exception of another type.

Passwords are stored as PBKDF2-SHA256 with a random salt; checking one costs
the same whether or not the user exists, so login timing does not tell which
usernames are registered.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import warnings
from typing import Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning

ALGORITHM = "HS256"
#: longer strings are not tokens this server issues; refused before any parsing
MAX_TOKEN_CHARS = 4096
_SUBJECT = re.compile(r"[1-9][0-9]{0,17}")
_SCHEME = "pbkdf2_sha256"


class TokenError(Exception):
    """A refused token; ``str()`` says why, for ``connect_error`` and logs."""


class Tokens:
    """Issues and checks the access tokens of one server."""

    def __init__(self, secret: str, expire_s: int) -> None:
        self._secret = secret
        self._expire_s = expire_s

    def issue(self, user_id: int, now: float) -> str:
        claims = {"sub": str(user_id), "exp": int(now) + self._expire_s}
        # a --secret shorter than RFC 7518's 32 bytes is the user's choice (the start line says so)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def user_id(self, token: object) -> int:
        """The user id a valid token names; ``TokenError`` saying why otherwise."""
        if not isinstance(token, str) or not token:
            raise TokenError("token must be a non-empty string")
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenError(f"token longer than {MAX_TOKEN_CHARS} characters")
        claims = self._claims(token)
        subject = claims.get("sub")
        if not isinstance(subject, str) or _SUBJECT.fullmatch(subject) is None:
            raise TokenError("token subject (sub) is not a user id")
        return int(subject)

    def _claims(self, token: str) -> dict[str, Any]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InsecureKeyLengthWarning)
                claims: dict[str, Any] = jwt.decode(token, self._secret, algorithms=[ALGORITHM],
                                                    options={"require": ["sub", "exp"]})
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.InvalidSignatureError:
            raise TokenError("token signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # odd claims PyJWT lets through
            raise TokenError(f"invalid token: {type(exc).__name__}") from None
        return claims


def hash_password(password: str, iterations: int) -> str:
    """``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>``; the text must encode as UTF-8."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{_SCHEME}${iterations}${salt.hex()}${digest.hex()}"


#: checked when the username is unknown, so that a miss costs what a hit costs
_DUMMY = f"{_SCHEME}$1${'00' * 16}${'00' * 32}"


def check_password(password: str, stored: str | None, iterations: int) -> bool:
    """Whether ``password`` matches ``stored`` (``None``: unknown user, always false, same cost)."""
    scheme, rounds, salt, digest = (stored or _DUMMY).split("$")
    cost = int(rounds) if stored else iterations
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), cost)
    return stored is not None and scheme == _SCHEME and hmac.compare_digest(candidate.hex(), digest)

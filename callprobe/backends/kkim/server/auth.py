"""IM tokens: HS256 JWTs with upstream's claims and token map (docs/backends/kkim.md#tokens).

A token is valid when its signature and expiry check out **and** the token
map (here a table in the store) holds it in state 0; admin users skip the map
check. Issuing a user token marks that user's older tokens on the same
platform as kicked (multi-login policy 1), as upstream does.

Whatever a token holds, ``verify`` answers with a ``TokenError``, never
another exception: a token with non-ASCII characters, claims nested too
deeply for the JSON decoder, or an ``exp``/``iat`` that is NaN or infinite
(Python's JSON accepts them, Go's does not) is 1503 TokenMalformedError.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, TypeGuard

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from callprobe.backends.kkim.protocol.constants import ErrCode, HandshakeCode, Platform
from callprobe.backends.kkim.server.store import TOKEN_KICKED, TOKEN_NORMAL, Store

#: upstream sets iat this many seconds in the past
_IAT_SKEW_S = 5
#: decoded tokens kept; the cache is simply emptied when full
_SIGNED_CACHE = 4096


@dataclass(frozen=True)
class Claims:
    user_id: str
    platform_id: int
    exp: int
    iat: int


class TokenError(Exception):
    """A refused token; ``code`` is the upstream 150x code (docs/backends/kkim.md#error-codes)."""

    def __init__(self, code: HandshakeCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def err_msg(self) -> str:
        return _TOKEN_ERR_NAME[self.code]

    @property
    def resp_code(self) -> int:
        """The KKIM Resp code for the same problem (docs/backends/kkim.md#error-codes)."""
        return int(ErrCode.TOKEN_EXPIRED if self.code == HandshakeCode.TOKEN_EXPIRED else ErrCode.TOKEN_INVALID)


_TOKEN_ERR_NAME = {
    HandshakeCode.TOKEN_EXPIRED: "TokenExpiredError",
    HandshakeCode.TOKEN_INVALID: "TokenInvalidError",
    HandshakeCode.TOKEN_MALFORMED: "TokenMalformedError",
    HandshakeCode.TOKEN_NOT_VALID_YET: "TokenNotValidYetError",
    HandshakeCode.TOKEN_UNKNOWN: "TokenUnknownError",
    HandshakeCode.TOKEN_KICKED: "TokenKickedError",
    HandshakeCode.TOKEN_NOT_EXIST: "TokenNotExistError",
}


def _encode(claims: dict[str, Any], secret: str) -> str:
    # upstream's default secret (openIM123) is shorter than RFC 7518 recommends; it is the point
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm="HS256")


def _decode(token: str, secret: str) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.decode(token, secret, algorithms=["HS256"],
                          options={"require": ["exp"], "verify_iat": False, "verify_exp": False,
                                   "verify_nbf": False})


def _finite_number(value: Any) -> TypeGuard[int | float]:
    """A JSON number Go would decode: no bool, no NaN, no infinity."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or math.isfinite(value)


class Authority:
    """Mints and checks tokens against the store's token map."""

    def __init__(self, secret: str, expire_s: int, store: Store, admin_users: tuple[str, ...]) -> None:
        self.secret = secret
        self.expire_s = expire_s
        self.store = store
        self.admin_users = frozenset(admin_users)
        # signature checks are the costly part and never change for a token; state and
        # expiry are checked on every use (a client sends its token in every request)
        self._signed: dict[str, dict[str, Any]] = {}

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.admin_users

    def issue(self, user_id: str, platform_id: int, now: float) -> str:
        """A fresh token; older tokens of the same user and platform become kicked."""
        # iat carries milliseconds so two logins in one second get distinct tokens
        iat = round(now - _IAT_SKEW_S, 3)
        exp = int(now) + self.expire_s
        claims: dict[str, Any] = {"UserID": user_id, "PlatformID": platform_id, "exp": exp, "iat": iat}
        token = _encode(claims, self.secret)
        while self.store.token_state(token) is not None:
            claims["iat"] = round(claims["iat"] - 0.001, 3)
            token = _encode(claims, self.secret)
        self.store.add_token(token, user_id, platform_id, exp)
        if not self.is_admin(user_id):
            self.store.kick_tokens(user_id, platform_id, keep=token)
        return token

    def issue_admin(self, user_id: str, now: float) -> str:
        return self.issue(user_id, int(Platform.ADMIN), now)

    def _check_signature(self, token: str) -> dict[str, Any]:
        raw = _decode(token, self.secret)
        if len(self._signed) >= _SIGNED_CACHE:
            self._signed.clear()
        self._signed[token] = raw
        return raw

    def verify(self, token: str, now: float) -> Claims:
        """Decode and check a token; raise ``TokenError`` with the upstream code."""
        if not token:
            raise TokenError(HandshakeCode.TOKEN_MALFORMED, "token is empty")
        if not token.isascii():
            raise TokenError(HandshakeCode.TOKEN_MALFORMED, "token is not a JWT: it holds non-ASCII characters")
        try:
            raw = self._signed.get(token) or self._check_signature(token)
        except RecursionError:
            raise TokenError(HandshakeCode.TOKEN_MALFORMED, "token is not a JWT: its JSON nests too deeply") from None
        except jwt.InvalidSignatureError:
            raise TokenError(HandshakeCode.TOKEN_UNKNOWN, "token signature does not match the secret") from None
        except jwt.DecodeError as exc:
            raise TokenError(HandshakeCode.TOKEN_MALFORMED, f"token is not a JWT: {exc}") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(HandshakeCode.TOKEN_UNKNOWN, f"token refused: {exc}") from None
        user_id, platform_id = raw.get("UserID"), raw.get("PlatformID")
        exp, iat = raw.get("exp"), raw.get("iat", 0)
        if not isinstance(user_id, str) or isinstance(platform_id, bool) or not isinstance(platform_id, int):
            raise TokenError(HandshakeCode.TOKEN_MALFORMED, "token lacks string UserID / integer PlatformID claims")
        if not _finite_number(exp) or not _finite_number(iat):
            raise TokenError(HandshakeCode.TOKEN_MALFORMED, "token exp/iat claims are not finite numbers")
        if now >= exp:
            raise TokenError(HandshakeCode.TOKEN_EXPIRED, f"token expired {int(now - exp)} s ago")
        nbf = raw.get("nbf")
        if _finite_number(nbf) and now < nbf:
            raise TokenError(HandshakeCode.TOKEN_NOT_VALID_YET, "token is not valid yet (nbf in the future)")
        claims = Claims(user_id, platform_id, int(exp), int(iat))
        if self.is_admin(user_id):
            return claims
        state = self.store.token_state(token)
        if state is None:
            raise TokenError(HandshakeCode.TOKEN_NOT_EXIST, "token was not issued by this gateway")
        if state == TOKEN_KICKED:
            raise TokenError(HandshakeCode.TOKEN_KICKED,
                             "token was kicked: a newer login of this user on this platform replaced it")
        if state != TOKEN_NORMAL:
            raise TokenError(HandshakeCode.TOKEN_UNKNOWN, f"token state is {state}")
        return claims

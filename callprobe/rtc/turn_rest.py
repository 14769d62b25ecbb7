"""Time-limited TURN credentials from a shared secret (the "TURN REST API").

Most production coturn servers run with ``use-auth-secret`` and
``static-auth-secret``: there are no fixed users, and the application server
hands each client a username ``<expiry unix time>[:<user>]`` and a password
``base64(HMAC-SHA1(secret, username))`` (draft-uberti-behave-turn-rest-00,
coturn's README.turnserver). A support engineer holding the secret can test
the server the same way the application does, without an account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

#: How long generated credentials stay valid, as the application servers commonly choose.
DEFAULT_TTL_S = 86400


def rest_credentials(secret: str, user: str = "", *, ttl_s: int = DEFAULT_TTL_S,
                     now: float | None = None) -> tuple[str, str]:
    """``(username, password)`` valid for ``ttl_s`` seconds from ``now``."""
    expiry = int(now if now is not None else time.time()) + ttl_s
    username = f"{expiry}:{user}" if user else str(expiry)
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")

"""Opening-handshake checks, pure: URL and headers in, parameters or a refusal out.

Rules (docs/backends/kkim.md#connection-url, docs/backends/kkim.md#handshake):

* ``sendID``, ``token`` and ``platformID`` are required (1602 otherwise) and
  ``platformID`` must be an integer.
* ``sdkType=js`` is required. Upstream treats an absent ``sdkType`` (or
  ``go``) as gob, a Go-only binary encoding this gateway does not speak, so it
  refuses such a handshake clearly with 1602 and a message saying to add
  ``sdkType=js``, rather than accepting and failing on the first frame.
* The token must be valid (150x codes) and name the same user and platform.
* ``compression=gzip`` comes from the query or a ``compression`` header.
* ``isMsgResp`` (a Go bool) makes refusals an upgrade + text frame + close,
  for every refusal (as upstream ``main`` does), and adds a success frame.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from callprobe.backends.kkim.protocol.constants import HandshakeCode
from callprobe.backends.kkim.server.auth import Authority, TokenError
from callprobe.backends.kkim.server.faults import Faults

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}

ARGS_ERR_TEXT = "args err, need token, sendID, platformID"


@dataclass(frozen=True)
class ConnParams:
    user_id: str
    platform_id: int
    token: str
    gzip: bool
    is_msg_resp: bool
    operation_id: str
    background: bool


class HandshakeRejection(Exception):
    """A refused handshake; ``body()`` is the JSON the client gets (docs/backends/kkim.md#handshake)."""

    def __init__(self, err_code: int, err_msg: str, err_dlt: str = "", is_msg_resp: bool = False) -> None:
        super().__init__(f"{err_code} {err_msg}: {err_dlt}" if err_dlt else f"{err_code} {err_msg}")
        self.err_code, self.err_msg, self.err_dlt = err_code, err_msg, err_dlt
        self.is_msg_resp = is_msg_resp

    def body(self) -> str:
        return json.dumps({"errCode": self.err_code, "errMsg": self.err_msg, "errDlt": self.err_dlt},
                          separators=(",", ":"))


class HandshakeCrash(Exception):
    """Fault ``handshake-crash``: the handler fails as a nil dereference would."""


def _go_bool(value: str) -> bool | None:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def success_body() -> str:
    return json.dumps({"errCode": 0, "errMsg": "", "errDlt": ""}, separators=(",", ":"))


def _query(path: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(path).query, keep_blank_values=True).items()}


def wants_msg_resp(path: str) -> bool:
    """The handshake asks for ``isMsgResp`` (a Go bool): refusals then upgrade and send a text frame."""
    return _go_bool(_query(path).get("isMsgResp", "")) is True


def check_handshake(path: str, headers: Mapping[str, str], authority: Authority, now: float,
                    faults: Faults) -> ConnParams:
    """Validate one upgrade request; raise ``HandshakeRejection`` (or ``HandshakeCrash``)."""
    query = _query(path)
    is_msg_resp = _go_bool(query.get("isMsgResp", "")) is True

    def refuse(code: int, msg: str, dlt: str = "") -> HandshakeRejection:
        return HandshakeRejection(int(code), msg, dlt, is_msg_resp)

    send_id = query.get("sendID", "")
    token = query.get("token", "")
    platform_text = query.get("platformID", "")
    if faults.handshake_crash and (not send_id or not token):
        raise HandshakeCrash("identity missing from the handshake")
    if not send_id or not platform_text or (not token and not faults.accept_any_token):
        missing = [n for n, v in (("token", token), ("sendID", send_id), ("platformID", platform_text)) if not v]
        raise refuse(HandshakeCode.CONN_ARGS_ERR, ARGS_ERR_TEXT, f"missing: {', '.join(missing)}")
    try:
        platform_id = int(platform_text, 10)
    except ValueError:
        raise refuse(HandshakeCode.CONN_ARGS_ERR, ARGS_ERR_TEXT,
                     f"platformID {platform_text!r} is not an integer") from None
    sdk_type = query.get("sdkType", "")
    if sdk_type != "js":
        if sdk_type in ("", "go"):
            why = (f"sdkType={sdk_type or '(absent)'} selects the gob encoding, which this gateway does "
                   "not speak: add sdkType=js to the URL for JSON envelopes")
        else:
            why = f"sdkType {sdk_type!r} is unknown: use sdkType=js"
        raise refuse(HandshakeCode.CONN_ARGS_ERR, ARGS_ERR_TEXT, why)
    if not faults.accept_any_token:
        try:
            claims = authority.verify(token, now)
        except TokenError as exc:
            raise refuse(exc.code, exc.err_msg, exc.message) from None
        if claims.user_id != send_id or claims.platform_id != platform_id:
            raise refuse(HandshakeCode.TOKEN_INVALID, "TokenInvalidError",
                         f"token is for user {claims.user_id!r} on platform {claims.platform_id}, "
                         f"not sendID={send_id!r} platformID={platform_id}")
    lowered = {k.lower(): v for k, v in headers.items()}
    gzip_on = query.get("compression") == "gzip" or lowered.get("compression") == "gzip"
    return ConnParams(
        user_id=send_id, platform_id=platform_id, token=token, gzip=gzip_on,
        is_msg_resp=is_msg_resp, operation_id=query.get("operationID", ""),
        background=_go_bool(query.get("isBackground", "")) is True,
    )

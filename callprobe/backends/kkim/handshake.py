"""The client side of the KKIM handshake, pure: URL, redaction, refusals (``docs/backends/kkim.md#handshake``)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from callprobe.backends.kkim.protocol.constants import explain_err_code
from callprobe.errors import CallprobeError, ConfigError, ExitCode


class HandshakeRefused(CallprobeError):
    """The gateway refused the WebSocket handshake; carries what it said."""

    code = "WS_REFUSED"
    exit_code = ExitCode.EXPECTATION_FAILED
    hint = "check the token (user and platform must match sendID/platformID) and the URL parameters"

    def __init__(self, url: str, status: int, err_code: int = 0, err_msg: str = "", err_dlt: str = "",
                 body: str = "", reason: str = "") -> None:
        text = f"WebSocket handshake refused by {url}"
        if status:
            text += f": HTTP {status}"
        if err_code:
            text += f", errCode {err_code} {err_msg}".rstrip() + f" = {explain_err_code(err_code)}"
        if err_dlt:
            text += f" ({err_dlt})"
        if reason:
            text += f": {reason}"
        super().__init__(text)
        self.url, self.status, self.err_code, self.err_msg = url, status, err_code, err_msg
        self.err_dlt, self.body, self.reason = err_dlt, body, reason


class ConnectionLost(CallprobeError):
    """The connection ended while a request waited for its reply."""

    code = "CONNECTION_LOST"
    exit_code = ExitCode.EXPECTATION_FAILED

    def __init__(self, what: str, close_code: int, explanation: str) -> None:
        super().__init__(f"{what}: connection closed ({close_code}: {explanation})")
        self.close_code, self.explanation = close_code, explanation


def build_ws_url(base: str, *, user_id: str, token: str | None, platform_id: int, operation_id: str,
                 compression: bool = False, is_msg_resp: bool = False) -> str:
    """The gateway URL with every parameter v3.8.3 and main need; ``token`` None leaves it out."""
    parts = urlsplit(base)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ConfigError(f"gateway URL {base!r} must look like ws://host:port")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update({"sendID": user_id, "platformID": str(platform_id), "sdkType": "js",
                  "operationID": operation_id, "isBackground": "false"})
    if token is not None:
        query["token"] = token
    if compression:
        query["compression"] = "gzip"
    if is_msg_resp:
        query["isMsgResp"] = "true"
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))

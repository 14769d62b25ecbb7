"""Typed refusals of the call-room server, translated to replies in one place each.

``Refusal`` is an HTTP answer: a status and the text of the JSON body
``{"error": text}`` (REST endpoints and refused room upgrades alike).
``HandshakeCrash`` is the ``handshake-crash`` fault: the upgrade answers 500
with an empty body. ``CloseCode`` names the WebSocket close codes the room
uses, each with what it means (``docs/backends/rooms.md#limits``).
"""

from __future__ import annotations

from enum import IntEnum
from http import HTTPStatus


class Refusal(Exception):
    """The server turns a request down: ``status`` and the ``error`` text of the JSON body.

    ``about`` is client text (a username) that the log line names and the
    reply does not.
    """

    def __init__(self, status: HTTPStatus, error: str, *, about: str = "") -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.about = about

    def body(self) -> dict[str, str]:
        return {"error": self.error}


class HandshakeCrash(Exception):
    """A room join the ``handshake-crash`` fault turns into HTTP 500 with nothing in the body."""


class CloseCode(IntEnum):
    """Close codes a room socket may get from the server (RFC 6455 §7.4.1)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    INVALID_DATA = 1007
    POLICY = 1008
    TOO_BIG = 1009

    @property
    def explanation(self) -> str:
        return CLOSE_EXPLANATIONS[self]


CLOSE_EXPLANATIONS: dict[CloseCode, str] = {
    CloseCode.NORMAL: "the client closed, or left after the call",
    CloseCode.GOING_AWAY: "the server is shutting down",
    CloseCode.PROTOCOL_ERROR: "a frame broke the WebSocket framing rules",
    CloseCode.UNSUPPORTED_DATA: "a binary frame: room messages are JSON text",
    CloseCode.INVALID_DATA: "a text frame that is not valid UTF-8",
    CloseCode.POLICY: "too many messages too fast, or the socket does not read what it is sent",
    CloseCode.TOO_BIG: "a message over max_frame_bytes",
}

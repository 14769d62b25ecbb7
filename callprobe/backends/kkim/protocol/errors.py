"""Typed protocol errors, each mapped to what the wire says about it.

A ``ProtocolError`` is either *fatal to the connection* (the gateway closes
with ``close_code``, docs/backends/kkim.md#closes) or a *business error* answered
with a Resp carrying ``err_code`` (docs/backends/kkim.md#error-codes).
"""

from __future__ import annotations

from callprobe.backends.kkim.protocol.constants import CloseCode, ErrCode
from callprobe.errors import CallprobeError


class ProtocolError(CallprobeError):
    """Root of wire-level errors; ``close_code`` or ``err_code`` says how it shows."""

    code = "PROTOCOL_ERROR"
    close_code: CloseCode | None = None
    err_code: int | None = None


class FatalFrameError(ProtocolError):
    """A frame the gateway cannot act on: the connection is closed."""

    code = "FRAME_FATAL"
    close_code = CloseCode.PROTOCOL_ERROR


class MalformedEnvelope(FatalFrameError):
    """Envelope is not JSON, not an object, or a field has the wrong type."""

    code = "ENVELOPE_MALFORMED"


class BadDataEncoding(FatalFrameError):
    """``data`` is neither a byte array nor padded standard base64 (docs/backends/kkim.md#envelope)."""

    code = "DATA_ENCODING_INVALID"


class BadCompression(FatalFrameError):
    """A binary frame is not a gzip stream while compression is on (docs/backends/kkim.md#compression)."""

    code = "GZIP_INVALID"


class UnknownIdentifier(FatalFrameError):
    """``reqIdentifier`` is not one the gateway serves (docs/backends/kkim.md#frames)."""

    code = "REQ_IDENTIFIER_UNKNOWN"
    close_code = CloseCode.UNSUPPORTED_DATA


class BadTextFrame(FatalFrameError):
    """A text frame that is not a ``ping``/``pong`` heartbeat (docs/backends/kkim.md#frames)."""

    code = "TEXT_FRAME_INVALID"
    close_code = CloseCode.UNSUPPORTED_DATA


class SendIDMismatch(FatalFrameError):
    """Envelope ``sendID`` differs from the connection's user (docs/backends/kkim.md#envelope)."""

    code = "SENDID_MISMATCH"
    close_code = CloseCode.POLICY_VIOLATION


class FrameTooLarge(FatalFrameError):
    """Incoming message over the 51200-byte read limit (docs/backends/kkim.md#frame-size)."""

    code = "FRAME_TOO_LARGE"
    close_code = CloseCode.MESSAGE_TOO_BIG


class BusinessError(ProtocolError):
    """A request the gateway answers with ``errCode`` != 0; the connection stays."""

    code = "BUSINESS_ERROR"
    err_code = int(ErrCode.SERVER_INTERNAL)

    def __init__(self, err_code: int, message: str) -> None:
        super().__init__(message)
        self.err_code = int(err_code)


class BadPayload(BusinessError):
    """``data`` does not decode as the protobuf the identifier expects (500)."""

    code = "PAYLOAD_INVALID"

    def __init__(self, message: str) -> None:
        super().__init__(ErrCode.SERVER_INTERNAL, message)

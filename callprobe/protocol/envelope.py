"""Encode and decode the JSON envelopes around protobuf payloads.

Requests (client to server) and responses/pushes (server to client) are JSON
objects sent in *binary* frames, optionally gzipped per frame; text frames
carry only the heartbeat (PROTOCOL.md B§3, B§4, B§6, B§7).

The decoders are strict where the upstream gateway is strict (it drops the
connection on a bad request) and tolerant where a client must be (a response's
``data`` may be base64, ``""``, ``null`` or even a number array).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from dataclasses import dataclass, field
from typing import Any, Literal

from callprobe.protocol.errors import (
    BadCompression,
    BadDataEncoding,
    BadTextFrame,
    MalformedEnvelope,
)

DataEncoding = Literal["array", "base64"]

#: Read limit of the gateway per incoming WebSocket message (B§8).
MAX_MESSAGE_SIZE = 51200

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Request:
    """A client request envelope (Go struct ``Req``, B§3.1)."""

    req_identifier: int
    send_id: str
    msg_incr: str = ""
    operation_id: str = ""
    token: str = ""
    data: bytes = b""


@dataclass(frozen=True)
class Response:
    """A server reply, push or kick (Go struct ``Resp``, B§3.2).

    ``data`` is ``None`` when the wire said ``null`` (errors, kicks), ``b""``
    for an empty payload. ``data_form`` records what the wire used, so a
    tolerant client can report the variant it saw.
    """

    req_identifier: int
    msg_incr: str = ""
    operation_id: str = ""
    err_code: int = 0
    err_msg: str = ""
    data: bytes | None = None
    data_form: str = field(default="base64", compare=False)


# --------------------------------------------------------------------- data


def encode_data(payload: bytes, encoding: DataEncoding) -> Any:
    """``data`` as a client sends it: a number array (default) or base64."""
    if encoding == "array":
        return list(payload)
    return base64.b64encode(payload).decode("ascii")


def decode_request_data(value: Any) -> bytes:
    """Decode a request's ``data`` exactly as Go's ``encoding/json`` into ``[]byte``.

    Accepted: a JSON array of integers 0..255, or a padded standard-base64
    string (CR/LF skipped); ``null``/absent means empty (B§3.3).
    """
    if value is None:
        return b""
    if isinstance(value, list):
        out = bytearray()
        for index, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= 255:
                raise BadDataEncoding(f"data[{index}] is {item!r}: expected an integer 0..255")
            out.append(item)
        return bytes(out)
    if isinstance(value, str):
        text = value.replace("\r", "").replace("\n", "")
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadDataEncoding(
                f"data is not padded standard base64 ({exc}); URL-safe or unpadded forms are refused"
            ) from None
    raise BadDataEncoding(f"data is a JSON {type(value).__name__}: expected a number array or base64 string")


def _decode_response_data(value: Any) -> tuple[bytes | None, str]:
    if value is None:
        return None, "null"
    if value == "":
        return b"", "empty"
    if isinstance(value, list):
        return decode_request_data(value), "array"
    if isinstance(value, str):
        text = value.replace("\r", "").replace("\n", "")
        try:
            return base64.b64decode(text, validate=True), "base64"
        except (binascii.Error, ValueError):
            pass
        try:  # tolerate URL-safe and unpadded base64 from non-Go servers
            padded = text + "=" * (-len(text) % 4)
            return base64.urlsafe_b64decode(padded), "base64url"
        except (binascii.Error, ValueError):
            raise BadDataEncoding(f"response data is not base64: {value[:40]!r}") from None
    raise BadDataEncoding(f"response data is a JSON {type(value).__name__}")


# --------------------------------------------------------------------- json


def _loads_object(raw: bytes | str, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedEnvelope(f"{what} is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise MalformedEnvelope(f"{what} is a JSON {type(obj).__name__}, expected an object")
    return obj


def _field(obj: dict[str, Any], name: str) -> Any:
    """Go's decoder matches keys case-insensitively, exact match first."""
    if name in obj:
        return obj[name]
    lower = name.lower()
    for key, value in obj.items():
        if key.lower() == lower:
            return value
    return None


def _int_field(obj: dict[str, Any], name: str, what: str, strict: bool = True) -> int:
    value = _field(obj, name)
    if value is None:
        return 0
    allowed = int if strict else (int, float)
    if isinstance(value, bool) or not isinstance(value, allowed) or value != int(value):
        raise MalformedEnvelope(f"{what} field {name!r} is {value!r}: expected an integer")
    return int(value)


def _str_field(obj: dict[str, Any], name: str, what: str) -> str:
    value = _field(obj, name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedEnvelope(f"{what} field {name!r} is {value!r}: expected a string")
    return value


# --------------------------------------------------------------- envelopes


def encode_request(req: Request, encoding: DataEncoding = "array") -> bytes:
    """Serialize a request envelope (uncompressed JSON bytes)."""
    obj = {
        "reqIdentifier": req.req_identifier,
        "token": req.token,
        "sendID": req.send_id,
        "operationID": req.operation_id,
        "msgIncr": req.msg_incr,
        "data": encode_data(req.data, encoding),
    }
    return json.dumps(obj, separators=(",", ":")).encode()


def decode_request(raw: bytes) -> Request:
    """Parse a request envelope as the gateway does; raise a ``FatalFrameError``."""
    obj = _loads_object(raw, "request envelope")
    return Request(
        req_identifier=_int_field(obj, "reqIdentifier", "request"),
        send_id=_str_field(obj, "sendID", "request"),
        msg_incr=_str_field(obj, "msgIncr", "request"),
        operation_id=_str_field(obj, "operationID", "request"),
        token=_str_field(obj, "token", "request"),
        data=decode_request_data(_field(obj, "data")),
    )


def encode_response(resp: Response) -> bytes:
    """Serialize a Resp in upstream key order; ``data`` padded base64/""/null."""
    data: str | None
    data = None if resp.data is None else base64.b64encode(resp.data).decode("ascii")
    obj = {
        "reqIdentifier": resp.req_identifier,
        "msgIncr": resp.msg_incr,
        "operationID": resp.operation_id,
        "errCode": resp.err_code,
        "errMsg": resp.err_msg,
        "data": data,
    }
    return json.dumps(obj, separators=(",", ":")).encode()


def decode_response(raw: bytes) -> Response:
    """Parse a Resp tolerantly (any ``data`` form); raise ``MalformedEnvelope``."""
    obj = _loads_object(raw, "response envelope")
    data, form = _decode_response_data(_field(obj, "data"))
    return Response(
        req_identifier=_int_field(obj, "reqIdentifier", "response", strict=False),
        msg_incr=str(_field(obj, "msgIncr") or ""),
        operation_id=str(_field(obj, "operationID") or ""),
        err_code=_int_field(obj, "errCode", "response", strict=False),
        err_msg=str(_field(obj, "errMsg") or ""),
        data=data,
        data_form=form,
    )


# ------------------------------------------------------------------ frames


def compress(payload: bytes) -> bytes:
    """One complete RFC 1952 gzip stream per frame (B§7); deterministic."""
    return gzip.compress(payload, mtime=0)


def decompress(frame: bytes) -> bytes:
    """Gunzip one binary frame; raise ``BadCompression``."""
    if not frame.startswith(_GZIP_MAGIC):
        raise BadCompression("binary frame is not gzip although compression=gzip was negotiated")
    try:
        return gzip.decompress(frame)
    except (OSError, EOFError, zlib.error) as exc:
        raise BadCompression(f"binary frame is not a valid gzip stream: {exc}") from None


def pack(envelope: bytes, gzip_on: bool) -> bytes:
    """Envelope bytes to the binary frame sent on the wire."""
    return compress(envelope) if gzip_on else envelope


def unpack(frame: bytes, gzip_on: bool) -> bytes:
    """Binary frame from the wire to envelope bytes."""
    return decompress(frame) if gzip_on else frame


# --------------------------------------------------------------- heartbeat

PING_TEXT = '{"type":"ping"}'


@dataclass(frozen=True)
class Heartbeat:
    """A text-frame heartbeat ``{"type": "ping"|"pong", "body": ...}`` (B§6)."""

    type: str
    body: Any = None


def decode_heartbeat(text: str) -> Heartbeat:
    """Parse a text frame; anything but ping/pong raises ``BadTextFrame``."""
    try:
        obj = json.loads(text)
    except ValueError:
        raise BadTextFrame(f"text frame is not JSON: {text[:60]!r}") from None
    if not isinstance(obj, dict) or obj.get("type") not in ("ping", "pong"):
        raise BadTextFrame(f"text frame is not a ping/pong heartbeat: {text[:60]!r}")
    return Heartbeat(type=obj["type"], body=obj.get("body"))


def encode_pong(ping: Heartbeat) -> str:
    """The gateway's text pong: ``{"type":"pong","body":<echoed body>}``."""
    return json.dumps({"type": "pong", "body": ping.body}, separators=(",", ":"))

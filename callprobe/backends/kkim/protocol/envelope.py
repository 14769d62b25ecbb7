"""Encode and decode the JSON envelopes around protobuf payloads.

Requests (client to server) and responses/pushes (server to client) are JSON
objects sent in *binary* frames, optionally gzipped per frame; text frames
carry only the heartbeat (docs/backends/kkim.md#frames, docs/backends/kkim.md#envelope).

The decoders are strict where the upstream gateway is strict (it drops the
connection on a bad request) and tolerant where a client must be (a response's
``data`` may be base64, ``""``, ``null`` or even a number array).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import math
import re
import zlib
from dataclasses import dataclass, field
from typing import Any, Literal

from callprobe.backends.kkim.protocol.errors import (
    BadCompression,
    BadDataEncoding,
    BadTextFrame,
    FatalFrameError,
    FrameTooLarge,
    MalformedEnvelope,
)

DataEncoding = Literal["array", "base64"]

#: Read limit of the gateway per incoming WebSocket message (docs/backends/kkim.md#frame-size).
MAX_MESSAGE_SIZE = 51200

_GZIP_MAGIC = b"\x1f\x8b"

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1

#: Lone UTF-16 surrogates: what Python keeps from a bad ``\\uD800`` escape
#: (or builds in code) where Go has U+FFFD.
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Request:
    """A client request envelope (Go struct ``Req``, docs/backends/kkim.md#envelope)."""

    req_identifier: int
    send_id: str
    msg_incr: str = ""
    operation_id: str = ""
    token: str = ""
    data: bytes = b""


@dataclass(frozen=True)
class Response:
    """A server reply, push or kick (Go struct ``Resp``, docs/backends/kkim.md#envelope).

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
    string (CR/LF skipped); ``null``/absent means empty (docs/backends/kkim.md#envelope).
    """
    if value is None:
        return b""
    if isinstance(value, list):
        if set(map(type, value)) <= {int}:  # the usual case, checked in C
            try:
                return bytes(value)
            except ValueError:
                pass  # out of range: the loop below names the element
        out = bytearray()
        for index, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= 255:
                raise BadDataEncoding(
                    f"data[{index}] is {_show(item)}: expected an integer 0..255"
                )
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
    raise BadDataEncoding(
        f"data is a JSON {_json_type(value)}: expected a number array or base64 string"
    )


#: Either base64 alphabet, optional padding: what a non-Go server may send.
_LENIENT_B64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")
_URLSAFE_TO_STD = str.maketrans("-_", "+/")


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
        # Tolerate URL-safe and unpadded base64 from non-Go servers, but only
        # text in a base64 alphabet: anything else is not base64 at all.
        stripped = text.rstrip("=").translate(_URLSAFE_TO_STD)
        if _LENIENT_B64.fullmatch(text) and len(stripped) % 4 != 1:
            padded = stripped + "=" * (-len(stripped) % 4)
            return base64.b64decode(padded, validate=True), "base64url"
        raise BadDataEncoding(f"response data is not base64: {value[:40]!r}")
    raise BadDataEncoding(f"response data is a JSON {_json_type(value)}")


# --------------------------------------------------------------------- json


class _JSONObject(dict[str, Any]):
    """A decoded JSON object that also keeps its key/value pairs in wire order.

    Go binds every key that folds to a field name, in order, so duplicate and
    case-variant keys matter; a plain dict would keep only one of them.
    ``folded`` indexes the pairs by folded key, built on first use.
    """

    pairs: list[tuple[str, Any]]
    folded: dict[str, list[Any]] | None


def _object_pairs(pairs: list[tuple[str, Any]]) -> _JSONObject:
    obj = _JSONObject(pairs)
    obj.pairs = pairs
    obj.folded = None
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


_DECODER = json.JSONDecoder(object_pairs_hook=_object_pairs, parse_constant=_reject_constant)


def _loads(raw: bytes | str, what: str, error: type[FatalFrameError]) -> Any:
    """Parse JSON as Go's decoder would; raise ``error`` naming ``what``.

    Bytes are UTF-8 only (no BOM, no UTF-16 sniffing); invalid sequences become
    U+FFFD as in Go. ``NaN``/``Infinity`` are refused. Deep nesting is a
    malformed frame, never a ``RecursionError``.
    """
    text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8", "replace")
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise error(f"{what} nests JSON too deeply") from None
    except ValueError as exc:
        raise error(f"{what} is not JSON: {exc}") from None


def _loads_object(raw: bytes | str, what: str) -> dict[str, Any]:
    obj = _loads(raw, what, MalformedEnvelope)
    if not isinstance(obj, dict):
        raise MalformedEnvelope(f"{what} is a JSON {_json_type(obj)}, expected an object")
    return obj


def _json_type(value: Any) -> str:
    """JSON's own name for a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _fold(key: str) -> str:
    """Go's key folding, as far as ASCII field names can tell: ASCII case,
    plus LONG S and KELVIN SIGN, the only runes that fold onto ASCII letters."""
    return key.replace("\u017f", "s").lower()


def _occurrences(obj: dict[str, Any], name: str) -> list[Any]:
    """Values of every key Go binds to field ``name``, in wire order.

    Go's decoder matches keys case-insensitively and assigns each match in
    turn, so the last one wins (docs/backends/kkim.md#envelope).
    """
    if isinstance(obj, _JSONObject):
        if obj.folded is None:  # one pass per object, not one per field
            index: dict[str, list[Any]] = {}
            for key, value in obj.pairs:
                index.setdefault(_fold(key), []).append(value)
            obj.folded = index
        return obj.folded.get(_fold(name), [])
    want = _fold(name)
    return [value for key, value in obj.items() if _fold(key) == want]


def _field(obj: dict[str, Any], name: str) -> Any:
    """The value Go ends up with for a string or number field.

    A ``null`` leaves such a field unchanged in Go, so it is skipped.
    """
    values = [value for value in _occurrences(obj, name) if value is not None]
    return values[-1] if values else None


def _int_field(obj: dict[str, Any], name: str, what: str, strict: bool = True) -> int:
    """An integer field; ``strict`` is Go's int32 (each occurrence is checked,
    as Go fails the whole decode on any), otherwise any integral number."""
    values = [value for value in _occurrences(obj, name) if value is not None]
    if not values:
        return 0
    for value in values if strict else values[-1:]:
        if isinstance(value, bool) or not isinstance(value, int if strict else (int, float)):
            ok = False
        elif strict:
            ok = _INT32_MIN <= value <= _INT32_MAX
        else:
            ok = math.isfinite(value) and value == int(value)
        if not ok:
            kind = "a 32-bit integer" if strict else "an integer"
            raise MalformedEnvelope(f"{what} field {name!r} is {_show(value)}: expected {kind}")
    return int(values[-1])


def _str_field(obj: dict[str, Any], name: str, what: str) -> str:
    values = [value for value in _occurrences(obj, name) if value is not None]
    for value in values:
        if not isinstance(value, str):
            raise MalformedEnvelope(
                f"{what} field {name!r} is {_show(value)}: expected a string"
            )
    return _SURROGATE.sub("\ufffd", values[-1]) if values else ""


#: Characters Go's encoder escapes although JSON allows them raw.
_GO_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
               ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def _go_json(obj: dict[str, Any]) -> bytes:
    """Compact JSON bytes as Go's ``encoding/json`` writes them.

    UTF-8 rather than ``\\u`` escapes, except ``<``, ``>``, ``&``, U+2028 and
    U+2029 (Go's HTML-safe escaping); a lone surrogate, which Go would have as
    invalid UTF-8, is written as the ``\\ufffd`` escape Go uses.
    """
    text = _ENCODER.encode(obj)
    if text.isascii():  # the usual frame: only the HTML-safe escapes can apply
        for char, escape in _GO_ESCAPES[:3]:
            if char in text:
                text = text.replace(char, escape)
        return text.encode()
    text = _SURROGATE.sub(lambda _m: "\\ufffd", text)
    for char, escape in _GO_ESCAPES:
        text = text.replace(char, escape)
    return text.encode()


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


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
        data=_request_data(obj),
    )


def _request_data(obj: dict[str, Any]) -> bytes:
    """Go decodes every ``data`` occurrence (any bad one fails the frame);
    the last wins, and a ``null`` empties it."""
    data = b""
    for value in _occurrences(obj, "data"):
        data = decode_request_data(value)
    return data


def encode_response(resp: Response) -> bytes:
    """Serialize a Resp in upstream key order; ``data`` padded base64/""/null."""
    data = None if resp.data is None else base64.b64encode(resp.data).decode("ascii")
    obj: dict[str, Any] = {
        "reqIdentifier": resp.req_identifier,
        "msgIncr": resp.msg_incr,
        "operationID": resp.operation_id,
        "errCode": resp.err_code,
        "errMsg": resp.err_msg,
        "data": data,
    }
    return _go_json(obj)


def decode_response(raw: bytes) -> Response:
    """Parse a Resp tolerantly (any ``data`` form); raise ``MalformedEnvelope``."""
    obj = _loads_object(raw, "response envelope")
    occurrences = _occurrences(obj, "data")
    data, form = _decode_response_data(occurrences[-1] if occurrences else None)
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
    """One complete RFC 1952 gzip stream per frame (docs/backends/kkim.md#compression); deterministic."""
    return gzip.compress(payload, mtime=0)


def decompress(frame: bytes, max_size: int | None = None) -> bytes:
    """Gunzip one binary frame (one or more RFC 1952 members, zero padding allowed).

    Args:
        frame: the binary frame as received.
        max_size: the most bytes the frame may inflate to (``None``: no limit).
            Inflating stops as soon as the output would pass it, so a frame
            that would inflate to megabytes costs at most ``max_size + 1``
            bytes of output (``docs/backends/kkim.md#limits``).

    Raises:
        BadCompression: the frame is not a complete, valid gzip stream.
        FrameTooLarge: it inflates past ``max_size`` (close 1009).
    """
    if not frame.startswith(_GZIP_MAGIC):
        raise BadCompression("binary frame is not gzip although compression=gzip was negotiated")
    out = bytearray()
    rest = frame
    try:
        while True:
            # the gzip wrapper (wbits 16+): zlib checks the header, CRC32 and ISIZE
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            room = 0 if max_size is None else max_size - len(out) + 1  # 0: unlimited
            out += inflater.decompress(rest, room)
            if max_size is not None and len(out) > max_size:
                raise FrameTooLarge(f"gzip frame inflates past the {max_size}-byte limit")
            if not inflater.eof:
                raise BadCompression("binary frame is not a valid gzip stream: "
                                     "it ends before the end-of-stream marker")
            rest = inflater.unused_data.lstrip(b"\0")
            if not rest:
                return bytes(out)
            if not rest.startswith(_GZIP_MAGIC):
                raise BadCompression("binary frame is not a valid gzip stream: "
                                     f"{len(rest)} bytes after the gzip stream")
    except zlib.error as exc:
        raise BadCompression(f"binary frame is not a valid gzip stream: {exc}") from None


def pack(envelope: bytes, gzip_on: bool) -> bytes:
    """Envelope bytes to the binary frame sent on the wire."""
    return compress(envelope) if gzip_on else envelope


def unpack(frame: bytes, gzip_on: bool, max_size: int | None = None) -> bytes:
    """Binary frame from the wire to envelope bytes; ``max_size`` caps inflation."""
    return decompress(frame, max_size) if gzip_on else frame


# --------------------------------------------------------------- heartbeat

PING_TEXT = '{"type":"ping"}'


@dataclass(frozen=True)
class Heartbeat:
    """A text-frame heartbeat ``{"type": "ping"|"pong", "body": ...}`` (docs/backends/kkim.md#heartbeat)."""

    type: str
    body: Any = None


def decode_heartbeat(text: str) -> Heartbeat:
    """Parse a text frame; anything but ping/pong raises ``BadTextFrame``.

    Keys bind as in Go (case-insensitive, last wins): the gateway decodes
    ``{"type": string, "body": raw JSON}``.
    """
    obj = _loads(text, f"text frame {text[:60]!r}", BadTextFrame)
    if not isinstance(obj, dict):
        raise BadTextFrame(f"text frame is a JSON {_json_type(obj)}, not a heartbeat: {text[:60]!r}")
    types = [value for value in _occurrences(obj, "type") if value is not None]
    if not types or not all(isinstance(value, str) for value in types) \
            or types[-1] not in ("ping", "pong"):
        raise BadTextFrame(f"text frame is not a ping/pong heartbeat: {text[:60]!r}")
    bodies = _occurrences(obj, "body")
    return Heartbeat(type=types[-1], body=bodies[-1] if bodies else None)


def encode_pong(ping: Heartbeat) -> str:
    """The gateway's text pong: ``{"type":"pong","body":<echoed body>}``."""
    return _go_json({"type": "pong", "body": ping.body}).decode()

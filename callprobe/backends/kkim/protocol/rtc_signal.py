"""SDP and ICE relayed as contentType 110 custom messages (docs/backends/kkim.md#sdp-and-ice).

The canonical content is the JSON object
``{"type":"webrtc_signal","signalType":"offer"|"answer"|"candidate","roomID":..,"data":..}``.
KKIM's other documented custom form wraps such an object, as a JSON *string*, in
``{"data": "<json>", "description": .., "extension": ..}``; readers accept both
and say which one they saw.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SIGNAL_TYPES = ("offer", "answer", "candidate")
FORM_TOP_LEVEL = "webrtc_signal"
FORM_CUSTOM_WRAPPER = "custom-wrapper"


@dataclass(frozen=True)
class WebRtcSignal:
    """One offer, answer or candidate; ``data`` is the RTCSessionDescription /
    RTCIceCandidate init dictionary as a browser would serialize it."""

    signal_type: str
    room_id: str
    data: Any
    form: str = FORM_TOP_LEVEL


def encode_signal(signal: WebRtcSignal) -> bytes:
    """Content bytes for a 110 message, in the form the signal names."""
    inner = {"type": "webrtc_signal", "signalType": signal.signal_type,
             "roomID": signal.room_id, "data": signal.data}
    if signal.form == FORM_CUSTOM_WRAPPER:
        outer = {"data": json.dumps(inner, separators=(",", ":")),
                 "description": "webrtc_signal", "extension": ""}
        return json.dumps(outer, separators=(",", ":")).encode()
    return json.dumps(inner, separators=(",", ":")).encode()


def _as_signal(obj: Any, form: str) -> WebRtcSignal | None:
    if not isinstance(obj, dict) or obj.get("type") != "webrtc_signal":
        return None
    kind = obj.get("signalType")
    if kind not in SIGNAL_TYPES:
        return None
    room = obj.get("roomID")
    return WebRtcSignal(kind, room if isinstance(room, str) else "", obj.get("data"), form)


def decode_signal(content: bytes) -> WebRtcSignal | None:
    """Read a 110 content as a WebRTC signal; ``None`` when it is something else."""
    try:
        obj = json.loads(content)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    direct = _as_signal(obj, FORM_TOP_LEVEL)
    if direct is not None:
        return direct
    if isinstance(obj, dict) and isinstance(obj.get("data"), str):
        try:
            inner = json.loads(obj["data"])
        except (ValueError, RecursionError):
            return None
        return _as_signal(inner, FORM_CUSTOM_WRAPPER)
    return None

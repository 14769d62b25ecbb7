"""Candidates apart from the SDP, the way browsers trickle them.

aiortc gathers every candidate inside ``setLocalDescription`` and writes them
into the SDP. Browsers do not: their offer/answer carries no ``a=candidate``
lines, each candidate then travels as its own signal in the JSON form of
``RTCIceCandidateInit`` (W3C webrtc-pc section 4.8.1.1, RFC 8838 trickle ICE).
callprobe signals the browser way, so a gateway that relays SDP but drops
candidate messages is caught: without the separate candidates the peers
cannot connect.

Pure functions over SDP text and JSON objects; no aiortc, no I/O.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from callprobe.rtc.errors import InvalidSignal

#: RFC 8445 section 5.1.1.1 candidate types (prflx is learnt, never signalled by aiortc).
CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay")

#: Port and address a trickling offer puts on m= and c= lines (RFC 8840 section 4.1.1).
TRICKLE_PORT = 9
_NO_ADDRESS = {"IP4": "0.0.0.0", "IP6": "::"}


@dataclass(frozen=True)
class Candidate:
    """One ICE candidate (RFC 8839 section 5.1 ``candidate-attribute``)."""

    foundation: str
    component: int
    protocol: str          # "udp" | "tcp"
    priority: int
    address: str
    port: int
    type: str              # host | srflx | prflx | relay
    related_address: str | None = None
    related_port: int | None = None
    tcp_type: str | None = None

    def to_sdp(self) -> str:
        """The attribute value, without the ``candidate:`` prefix."""
        text = (f"{self.foundation} {self.component} {self.protocol} {self.priority} "
                f"{self.address} {self.port} typ {self.type}")
        if self.related_address is not None:
            text += f" raddr {self.related_address}"
        if self.related_port is not None:
            text += f" rport {self.related_port}"
        if self.tcp_type is not None:
            text += f" tcptype {self.tcp_type}"
        return text

    def describe(self) -> dict[str, Any]:
        """Flat JSON fields for ICE_CANDIDATE events and reports."""
        fields: dict[str, Any] = {"type": self.type, "protocol": self.protocol,
                                  "address": self.address, "port": self.port}
        if self.related_address is not None:
            fields["related_address"] = self.related_address
        return fields


def parse_candidate(text: str) -> Candidate:
    """Parse ``candidate:...`` (the prefix is optional).

    Raises:
        ValueError: with a message naming the faulty part.
    """
    body = text.strip()
    if body.startswith("a="):
        body = body[2:]
    if body.startswith("candidate:"):
        body = body[len("candidate:"):]
    bits = body.split()
    if len(bits) < 8:
        raise ValueError(f"candidate {text!r} has {len(bits)} fields, at least 8 are required")
    if bits[6] != "typ":
        raise ValueError(f"candidate {text!r}: expected 'typ' as 7th field, got {bits[6]!r}")
    foundation, component, protocol, priority, address, port, _, kind = bits[:8]
    if not component.isdigit() or not priority.isdigit():
        raise ValueError(f"candidate {text!r}: component and priority must be integers")
    if protocol.lower() not in ("udp", "tcp"):
        raise ValueError(f"candidate {text!r}: transport {protocol!r} is neither udp nor tcp")
    if kind not in CANDIDATE_TYPES:
        raise ValueError(f"candidate {text!r}: unknown type {kind!r}")
    port_number = _port(port, text)
    extras: dict[str, str] = {}
    rest = bits[8:]
    for name, value in zip(rest[0::2], rest[1::2], strict=False):
        extras.setdefault(name, value)
    related_port = _port(extras["rport"], text) if "rport" in extras else None
    return Candidate(
        foundation=foundation, component=int(component), protocol=protocol.lower(),
        priority=int(priority), address=address, port=port_number, type=kind,
        related_address=extras.get("raddr"), related_port=related_port,
        tcp_type=extras.get("tcptype"),
    )


def _port(value: str, text: str) -> int:
    if not value.isdigit() or int(value) > 65535:
        raise ValueError(f"candidate {text!r}: port {value!r} is not a port number")
    return int(value)


@dataclass(frozen=True)
class CandidateInit:
    """A browser ``RTCIceCandidateInit``: a candidate and the m-line it belongs to."""

    candidate: Candidate
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None
    username_fragment: str | None = None

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"candidate": "candidate:" + self.candidate.to_sdp(),
                               "sdpMid": self.sdp_mid, "sdpMLineIndex": self.sdp_mline_index}
        if self.username_fragment is not None:
            obj["usernameFragment"] = self.username_fragment
        return obj


def parse_candidate_init(obj: Any) -> CandidateInit | None:
    """Read a remote candidate signal; ``None`` means end-of-candidates.

    Accepts what browsers send: a ``RTCIceCandidateInit`` object (or its JSON
    text), where ``null`` or an empty ``candidate`` string ends the candidates.

    Raises:
        InvalidSignal: the object is not a usable candidate.
    """
    if isinstance(obj, str):
        try:
            obj = json.loads(obj)
        except ValueError:
            raise InvalidSignal("candidate", f"not JSON: {obj[:80]!r}") from None
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise InvalidSignal("candidate", f"expected an object, got {type(obj).__name__}")
    line = obj.get("candidate")
    if line is None or line == "":
        return None
    if not isinstance(line, str):
        raise InvalidSignal("candidate", f"'candidate' must be a string, got {type(line).__name__}")
    mid, index = obj.get("sdpMid"), obj.get("sdpMLineIndex")
    if mid is not None and not isinstance(mid, str):
        raise InvalidSignal("candidate", f"'sdpMid' must be a string, got {mid!r}")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool) or index < 0):
        raise InvalidSignal("candidate", f"'sdpMLineIndex' must be a non-negative integer, got {index!r}")
    if mid is None and index is None:
        raise InvalidSignal("candidate", "needs 'sdpMid' or 'sdpMLineIndex'")
    try:
        candidate = parse_candidate(line)
    except ValueError as exc:
        raise InvalidSignal("candidate", str(exc)) from None
    try:
        ipaddress.ip_address(candidate.address)
    except ValueError:
        if not candidate.address.endswith(".local"):
            raise InvalidSignal("candidate",
                                f"address {candidate.address!r} is neither an IP nor an mDNS name") from None
    ufrag = obj.get("usernameFragment")
    return CandidateInit(candidate, mid, index, ufrag if isinstance(ufrag, str) else None)


def parse_description(obj: Any, expected: str) -> str:
    """The SDP text of a remote ``{"type": ..., "sdp": ...}`` description.

    Raises:
        InvalidSignal: wrong type, missing SDP, or SDP without media.
    """
    if isinstance(obj, str):
        try:
            obj = json.loads(obj)
        except ValueError:
            raise InvalidSignal(expected, f"not JSON: {obj[:80]!r}") from None
    if not isinstance(obj, dict):
        raise InvalidSignal(expected, f"expected an object with 'type' and 'sdp', got {type(obj).__name__}")
    if obj.get("type") != expected:
        raise InvalidSignal(expected, f"'type' is {obj.get('type')!r}, expected {expected!r}")
    sdp = obj.get("sdp")
    if not isinstance(sdp, str) or not sdp.strip():
        raise InvalidSignal(expected, "'sdp' is missing or empty")
    lines = sdp.splitlines()
    if not lines or lines[0].strip() != "v=0":
        raise InvalidSignal(expected, f"SDP must start with 'v=0', starts with {lines[0][:40]!r}")
    if not any(line.startswith("m=") for line in lines):
        raise InvalidSignal(expected, "SDP has no m= line")
    return sdp


@dataclass(frozen=True)
class MediaSection:
    """What callprobe needs from one m= section."""

    index: int
    kind: str
    mid: str | None
    port: int
    direction: str

    @property
    def remote_sends(self) -> bool:
        """The side that wrote this SDP will send media on it."""
        return self.port != 0 and self.direction in ("sendrecv", "sendonly")


def media_sections(sdp: str) -> list[MediaSection]:
    """The m= sections of ``sdp`` in order (direction defaults to sendrecv, RFC 8866 6.7)."""
    sections: list[MediaSection] = []
    session_direction = "sendrecv"
    current: dict[str, Any] | None = None

    def close() -> None:
        if current is not None:
            sections.append(MediaSection(**current))

    for line in sdp.splitlines():
        if line.startswith("m="):
            close()
            bits = line[2:].split()
            port = int(bits[1]) if len(bits) > 1 and bits[1].split("/")[0].isdigit() else 0
            current = {"index": len(sections), "kind": bits[0] if bits else "",
                       "mid": None, "port": port, "direction": session_direction}
        elif line in ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"):
            if current is None:
                session_direction = line[2:]
            else:
                current["direction"] = line[2:]
        elif line.startswith("a=mid:") and current is not None:
            current["mid"] = line[len("a=mid:"):].strip()
    close()
    return sections


def split_candidates(sdp: str) -> tuple[str, list[CandidateInit]]:
    """Remove candidates from ``sdp`` and return them separately.

    The returned SDP is what a trickling browser sends: no ``a=candidate``
    and no ``a=end-of-candidates`` lines, port 9 on m= lines and the null
    address on c= lines of media sections. Candidates repeated in bundled
    m-lines (aiortc writes the shared transport's candidates into each) are
    returned once, for the first m-line they appear in.

    Raises:
        ValueError: a candidate line of ``sdp`` does not parse.
    """
    newline = "\r\n" if "\r\n" in sdp else "\n"
    kept: list[str] = []
    found: list[tuple[str, int]] = []   # (candidate attribute, m-line index)
    mids: dict[int, str | None] = {}
    ufrags: dict[int, str] = {}
    session_ufrag: str | None = None
    index = -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            index += 1
            mids[index] = None
            bits = line.split(" ")
            if len(bits) > 1 and bits[1] != "0":
                bits[1] = str(TRICKLE_PORT)
            kept.append(" ".join(bits))
            continue
        if line.startswith("a=candidate:"):
            if index >= 0:
                found.append((line[2:], index))
            continue
        if line == "a=end-of-candidates":
            continue
        if index >= 0 and line.startswith("c=IN "):
            family = line.split(" ")[1] if len(line.split(" ")) > 1 else "IP4"
            kept.append(f"c=IN {family} {_NO_ADDRESS.get(family, '0.0.0.0')}")
            continue
        if line.startswith("a=mid:") and index >= 0:
            mids[index] = line[len("a=mid:"):].strip()
        elif line.startswith("a=ice-ufrag:"):
            if index >= 0:
                ufrags[index] = line[len("a=ice-ufrag:"):].strip()
            else:
                session_ufrag = line[len("a=ice-ufrag:"):].strip()
        kept.append(line)

    seen: set[str] = set()
    candidates: list[CandidateInit] = []
    for text, m_index in found:
        candidate = parse_candidate(text)
        key = candidate.to_sdp()
        if key in seen:
            continue
        seen.add(key)
        candidates.append(CandidateInit(candidate, mids.get(m_index), m_index,
                                        ufrags.get(m_index, session_ufrag)))
    return newline.join(kept) + newline, candidates


def embedded_candidates(sdp: str) -> list[Candidate]:
    """Candidates a non-trickling remote wrote into its SDP (deduplicated)."""
    result: list[Candidate] = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            try:
                candidate = parse_candidate(line[2:])
            except ValueError:
                continue
            if candidate not in result:
                result.append(candidate)
    return result

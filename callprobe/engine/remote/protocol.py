"""The control protocol's messages and the clock-offset estimate, pure (``docs/peers.md#control-protocol``).

One WebSocket per remote agent, JSON text frames, each an object with a
``type``:

==========  =========  ==========================================================
type        direction  fields
==========  =========  ==========================================================
hello       agent→run  ``token``, ``as`` (the agent's name), ``host``, ``version``
welcome     run→agent  —
refused     run→agent  ``reason``; the run then closes the connection (1008)
part        run→agent  ``scenario`` (YAML text), ``file``, ``agent``, ``endpoints``
                       ``{server, api}``, ``ice`` (``ice_to_json``)
ready       agent→run  ``plays`` (agent/browser), ``browser`` (its version)
ping        run→agent  ``n``: a clock sample; the run notes when it left and came back
pong        agent→run  ``n``, ``t`` (the agent's clock, ms)
act         run→agent  ``id``, ``verb``, ``args``
done        agent→run  ``id``, ``ok``, ``result`` or ``error``
event       agent→run  ``e``: one timeline event as JSON, ``t_ms`` on the agent's clock
bye         run→agent  — the run is over; the agent closes and exits 0
==========  =========  ==========================================================

The token never travels in a URL or on a command line: the agent reads it
from ``CALLPROBE_AGENT_TOKEN`` or a prompt and sends it in ``hello``.

Clocks: each ``ping``/``pong`` is a sample (sent, remote, received). The
remote clock read ``t`` lies between the moments the ping left and the pong
came back, so the offset (remote minus ours) is within
``[t - received, t - sent]``: the estimate is the middle of that interval,
and its uncertainty half the round trip. The sample with the shortest round
trip bounds it best (NTP's minimum-delay filter).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from callprobe.rtc.ice_config import IceConfig, IceServer

#: The path the control endpoint serves.
CONTROL_PATH = "/callprobe-control"

#: Samples taken when an agent joins, and at each later check.
SYNC_SAMPLES = 8

MESSAGE_TYPES = ("hello", "welcome", "refused", "part", "ready", "ping", "pong", "act", "done", "event", "bye")

#: Verbs a run may ask a remote agent to act on (the scenario's actions, plus the teardown).
VERBS = ("connect", "disconnect", "reconnect", "invite", "accept", "reject", "cancel", "hangup", "send_text",
         "join_room", "learn_join_order", "release_calls", "close")


class ProtocolViolation(ValueError):
    """A control message that is not JSON, not an object, or of no known type."""


def encode(kind: str, **fields: Any) -> str:
    if kind not in MESSAGE_TYPES:
        raise ValueError(f"unknown control message type {kind!r}")
    return json.dumps({"type": kind, **fields}, separators=(",", ":"), default=str)


def decode(text: str | bytes) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolViolation("a control message must be JSON") from None
    if not isinstance(obj, dict) or obj.get("type") not in MESSAGE_TYPES:
        raise ProtocolViolation("a control message must be an object with a known 'type'")
    return obj


def ice_to_json(ice: IceConfig) -> dict[str, Any]:
    """An agent's ICE for the wire: servers with their credentials (the agent must use them)."""
    return {"servers": [{"urls": list(s.urls), "username": s.username, "credential": s.credential,
                         "secret": s.secret} for s in ice.servers],
            "host_addresses": list(ice.host_addresses) if ice.host_addresses is not None else None,
            "relay_only": ice.relay_only}


def ice_from_json(obj: dict[str, Any]) -> IceConfig:
    servers = tuple(IceServer(urls=tuple(s["urls"]), username=s.get("username", ""),
                              credential=s.get("credential", ""), secret=s.get("secret", ""))
                    for s in obj.get("servers", []))
    hosts = obj.get("host_addresses")
    return IceConfig(servers=servers, host_addresses=tuple(hosts) if hosts else None,
                     relay_only=bool(obj.get("relay_only")))


@dataclass(frozen=True)
class ClockSample:
    """One round trip: when the ping left and the pong came back (our clock), and the remote's reading."""

    sent_ms: float
    remote_ms: float
    received_ms: float

    @property
    def rtt_ms(self) -> float:
        return max(0.0, self.received_ms - self.sent_ms)


@dataclass(frozen=True)
class ClockEstimate:
    """The remote clock minus ours (``offset_ms``), give or take ``uncertainty_ms``."""

    offset_ms: float
    uncertainty_ms: float
    rtt_ms: float
    samples: int

    def to_local(self, remote_ms: float) -> float:
        """A remote clock reading on our clock."""
        return remote_ms - self.offset_ms


def estimate(samples: list[ClockSample]) -> ClockEstimate:
    """The offset from the sample with the shortest round trip (``ValueError`` without one)."""
    if not samples:
        raise ValueError("no clock sample")
    best = min(samples, key=lambda s: s.rtt_ms)
    offset = best.remote_ms - (best.sent_ms + best.received_ms) / 2.0
    return ClockEstimate(offset, best.rtt_ms / 2.0, best.rtt_ms, len(samples))


def combined(first: ClockEstimate, last: ClockEstimate) -> float:
    """The uncertainty over a whole run: the worse check's, plus how far the offset drifted between them."""
    return max(first.uncertainty_ms, last.uncertainty_ms) + abs(last.offset_ms - first.offset_ms)


__all__ = ["CONTROL_PATH", "MESSAGE_TYPES", "SYNC_SAMPLES", "VERBS", "ClockEstimate", "ClockSample",
           "ProtocolViolation", "combined", "decode", "encode", "estimate", "ice_from_json", "ice_to_json"]

"""Flat per-kind figures from an aiortc ``RTCStatsReport``.

aiortc reports outbound-rtp (packets/bytes sent), inbound-rtp (packets
received and lost, jitter in RTP clock units), remote-inbound-rtp (the
remote's receiver report: round-trip time in seconds, its loss count) and
transport (bytes and packets on the DTLS transport). It has no bytes per
inbound stream and no candidate stats; candidates come from the ICE agent.

Works on anything with the W3C attribute names, so tests can feed plain
objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: RTP clock rates used to turn jitter into milliseconds (Opus RFC 7587, video RFC 3551).
CLOCK_RATES = {"audio": 48000, "video": 90000}
KINDS = ("audio", "video")


def _blank() -> dict[str, Any]:
    return {"packets_sent": 0, "bytes_sent": 0, "packets_received": 0,
            "packets_lost": 0, "remote_packets_lost": 0, "jitter_ms": None, "rtt_ms": None}


def summarize(report: Iterable[Any]) -> dict[str, Any]:
    """``{"audio": {...}, "video": {...}, "transport": {...}}`` from a stats report.

    Per kind: packets_sent, bytes_sent, packets_received, packets_lost (what
    this side found missing), remote_packets_lost (what the remote reported
    missing of ours), jitter_ms (largest stream) and rtt_ms (from the
    remote's receiver reports; ``None`` until one arrived).
    """
    kinds: dict[str, dict[str, Any]] = {kind: _blank() for kind in KINDS}
    transports: dict[str, dict[str, int]] = {}
    for stat in report:
        kind_name = getattr(stat, "type", "")
        kind = getattr(stat, "kind", None)
        row = kinds.setdefault(kind, _blank()) if isinstance(kind, str) else None
        if kind_name == "outbound-rtp" and row is not None:
            row["packets_sent"] += int(stat.packetsSent)
            row["bytes_sent"] += int(stat.bytesSent)
        elif kind_name == "inbound-rtp" and row is not None:
            row["packets_received"] += int(stat.packetsReceived)
            row["packets_lost"] += max(0, int(stat.packetsLost))
            jitter_ms = round(1000.0 * float(stat.jitter) / CLOCK_RATES.get(str(kind), 90000), 3)
            row["jitter_ms"] = jitter_ms if row["jitter_ms"] is None else max(row["jitter_ms"], jitter_ms)
        elif kind_name == "remote-inbound-rtp" and row is not None:
            row["remote_packets_lost"] += max(0, int(stat.packetsLost))
            rtt = getattr(stat, "roundTripTime", None)
            if rtt is not None:
                row["rtt_ms"] = round(float(rtt) * 1000.0, 3)
        elif kind_name == "transport":
            transports[str(stat.id)] = {
                "packets_sent": int(stat.packetsSent), "packets_received": int(stat.packetsReceived),
                "bytes_sent": int(stat.bytesSent), "bytes_received": int(stat.bytesReceived),
            }
    totals = {"packets_sent": 0, "packets_received": 0, "bytes_sent": 0, "bytes_received": 0}
    for figures in transports.values():
        for key in totals:
            totals[key] += figures[key]
    return {**kinds, "transport": totals}


def flat_fields(summary: dict[str, Any], frames: dict[str, int]) -> dict[str, Any]:
    """MEDIA_STATS event fields: frame counts, per-kind figures, call-wide rtt/jitter/loss."""
    fields: dict[str, Any] = {"audio_frames": frames.get("audio", 0),
                              "video_frames": frames.get("video", 0)}
    rtts, jitters, lost = [], [], 0
    for kind in KINDS:
        row = summary.get(kind, {})
        for key, value in row.items():
            fields[f"{kind}_{key}"] = value
        if row.get("rtt_ms") is not None:
            rtts.append(row["rtt_ms"])
        if row.get("jitter_ms") is not None:
            jitters.append(row["jitter_ms"])
        lost += int(row.get("packets_lost", 0))
    transport = summary.get("transport", {})
    fields["bytes_sent"] = transport.get("bytes_sent", 0)
    fields["bytes_received"] = transport.get("bytes_received", 0)
    fields["rtt_ms"] = min(rtts) if rtts else None
    fields["jitter_ms"] = max(jitters) if jitters else None
    fields["packets_lost"] = lost
    return fields

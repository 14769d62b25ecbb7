"""Summaries of aiortc stats reports."""

from __future__ import annotations

from types import SimpleNamespace as S

from callprobe.rtc.stats import flat_fields, summarize

REPORT = [
    S(type="outbound-rtp", kind="audio", packetsSent=50, bytesSent=4000),
    S(type="inbound-rtp", kind="audio", packetsReceived=48, packetsLost=2, jitter=96),
    S(type="remote-inbound-rtp", kind="audio", packetsLost=1, roundTripTime=0.0125),
    S(type="outbound-rtp", kind="video", packetsSent=30, bytesSent=30000),
    S(type="inbound-rtp", kind="video", packetsReceived=30, packetsLost=-1, jitter=90),
    S(type="remote-inbound-rtp", kind="video", packetsLost=0, roundTripTime=None),
    S(type="transport", id="t1", packetsSent=80, packetsReceived=78, bytesSent=34000, bytesReceived=33000),
    S(type="transport", id="t1", packetsSent=80, packetsReceived=78, bytesSent=34000, bytesReceived=33000),
]


def test_summary_per_kind() -> None:
    summary = summarize(REPORT)
    assert summary["audio"] == {"packets_sent": 50, "bytes_sent": 4000, "packets_received": 48,
                                "packets_lost": 2, "remote_packets_lost": 1,
                                "jitter_ms": 2.0, "rtt_ms": 12.5}
    assert summary["video"]["jitter_ms"] == 1.0          # 90 ticks of a 90 kHz clock
    assert summary["video"]["packets_lost"] == 0          # negative loss (duplicates) is not loss
    assert summary["video"]["rtt_ms"] is None
    assert summary["transport"] == {"packets_sent": 80, "packets_received": 78,
                                    "bytes_sent": 34000, "bytes_received": 33000}  # one transport, once


def test_empty_report() -> None:
    summary = summarize([])
    assert summary["audio"]["packets_received"] == 0 and summary["audio"]["jitter_ms"] is None


def test_flat_fields_for_media_stats() -> None:
    fields = flat_fields(summarize(REPORT), {"audio": 47, "video": 29})
    assert fields["audio_frames"] == 47 and fields["video_frames"] == 29
    assert fields["audio_packets_received"] == 48 and fields["video_bytes_sent"] == 30000
    assert fields["rtt_ms"] == 12.5 and fields["jitter_ms"] == 2.0 and fields["packets_lost"] == 2
    assert fields["bytes_received"] == 33000

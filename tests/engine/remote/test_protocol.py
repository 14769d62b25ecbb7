"""The control protocol's pure parts: messages, ICE on the wire, the clock-offset estimate."""

from __future__ import annotations

import pytest

from callprobe.engine.remote.protocol import (
    ClockSample,
    ProtocolViolation,
    combined,
    decode,
    encode,
    estimate,
    ice_from_json,
    ice_to_json,
)
from callprobe.rtc.ice_config import IceConfig, IceServer


def sample(true_offset: float, sent: float, out_ms: float, back_ms: float) -> ClockSample:
    """A round trip leaving at ``sent`` (our clock), ``out_ms`` there and ``back_ms`` back."""
    return ClockSample(sent, sent + out_ms + true_offset, sent + out_ms + back_ms)


def test_a_symmetric_round_trip_gives_the_offset_exactly() -> None:
    est = estimate([sample(-2470.5, 100.0, 0.2, 0.2)])
    assert est.offset_ms == pytest.approx(-2470.5) and est.uncertainty_ms == pytest.approx(0.2)
    assert est.to_local(5000.0) == pytest.approx(7470.5)


@pytest.mark.parametrize("out_ms, back_ms", [(0.1, 9.0), (9.0, 0.1), (3.0, 3.0), (0.0, 12.0)])
def test_the_truth_is_always_within_the_uncertainty(out_ms: float, back_ms: float) -> None:
    est = estimate([sample(1234.0, 10.0, out_ms, back_ms)])
    assert abs(est.offset_ms - 1234.0) <= est.uncertainty_ms + 1e-9


def test_the_shortest_round_trip_wins() -> None:
    samples = [sample(50.0, t, 4.0, 1.0) for t in (0.0, 20.0)] + [sample(50.0, 40.0, 0.3, 0.3)]
    est = estimate(samples)
    assert est.rtt_ms == pytest.approx(0.6) and est.samples == 3
    assert est.offset_ms == pytest.approx(50.0)


def test_drift_between_checks_widens_the_uncertainty() -> None:
    first = estimate([sample(10.0, 0.0, 0.5, 0.5)])
    last = estimate([sample(12.0, 60_000.0, 0.25, 0.25)])
    assert combined(first, last) == pytest.approx(0.5 + 2.0)


def test_messages_and_ice_on_the_wire() -> None:
    assert decode(encode("hello", token="t", host="h", **{"as": "bob"})) == {"type": "hello", "token": "t",
                                                                               "host": "h", "as": "bob"}
    for bad in ("not json", "[1]", '{"type": "evil"}', "{}"):
        with pytest.raises(ProtocolViolation):
            decode(bad)
    with pytest.raises(ValueError):
        encode("nonsense")
    ice = IceConfig(servers=(IceServer(urls=("turn:127.0.0.1:3478",), username="u", credential="p"),),
                    host_addresses=("127.0.0.1",), relay_only=True)
    assert ice_from_json(ice_to_json(ice)) == ice
    assert ice_from_json(ice_to_json(IceConfig())) == IceConfig()

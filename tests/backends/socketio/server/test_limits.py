"""The pure limit helpers: log quoting, JSON depth, the per-socket rate limit."""

from __future__ import annotations

from callprobe.backends.socketio.server.limits import (
    RateLimit,
    depth_exceeds,
    encodable,
    one_line,
    quote,
)


def test_quote_escapes_newlines_and_shortens() -> None:
    assert quote("alice\nWARNING forged") == "'alice\\nWARNING forged'"
    assert "\n" not in quote({"a": ["\r\n" * 500]}) and len(quote("x" * 10_000)) < 100


def test_one_line_escapes_control_and_separator_characters() -> None:
    text = one_line("a\nb\u2028c\x1b[31m\ud800")
    assert text == "a\\nb\\u2028c\\x1b[31m\\ud800" and text.isprintable()


def test_depth_is_counted_without_recursion() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert depth_exceeds(deep, 16)
    assert not depth_exceeds({"a": [{"b": [1]}]}, 4) and depth_exceeds({"a": [{"b": [1]}]}, 3)
    assert not depth_exceeds("flat", 0)


def test_lone_surrogates_do_not_encode() -> None:
    assert encodable("héllo ✓") and not encodable("\ud800")


def test_rate_limit_burst_then_rate_and_refusals_in_a_row() -> None:
    limit = RateLimit(rate=2.0, burst=3)
    assert [limit.take(0.0) for _ in range(5)] == [True, True, True, False, False]
    assert limit.refused == 2
    assert limit.take(0.5) and limit.refused == 0       # half a second buys one packet at 2/s
    assert not limit.take(0.5)
    assert [limit.take(10.0) for _ in range(4)] == [True, True, True, False]   # never more than the burst

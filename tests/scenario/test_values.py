"""Durations, platforms and suggestions."""

from __future__ import annotations

import pytest

from callprobe.scenario.values import (
    MAX_DURATION_S,
    describe,
    duration_seconds,
    parse_duration,
    parse_platform,
    placeholders,
    quoted,
    suggest,
)


@pytest.mark.parametrize(("value", "seconds"), [
    (2, 2.0), (0.5, 0.5), ("2s", 2.0), ("500ms", 0.5), ("1.5m", 90.0), ("3", 3.0), (" 250 ms ", 0.25),
    (".5s", 0.5),
])
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", [0, -1, "0s", "2 secs", "s", "", True, None, [1], float("nan"),
                                   float("inf"), float("-inf"), 3601, "61m", "3600.5s", 10 ** 400, "9" * 400])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


def test_duration_limits() -> None:
    assert parse_duration(MAX_DURATION_S) == parse_duration("60m") == parse_duration("3600000ms") == 3600.0
    assert parse_duration(90, maximum=90) == 90.0
    with pytest.raises(ValueError, match=r"at most 90 s, got a number \(91\)"):
        parse_duration(91, maximum=90)
    with pytest.raises(ValueError, match=r"got text '2h'"):
        parse_duration("2h")
    with pytest.raises(ValueError, match=r"got a number \(\.nan\)"):
        parse_duration(float("nan"))


def test_duration_seconds_is_unchecked() -> None:
    assert duration_seconds(-2) == -2.0
    assert duration_seconds(10 ** 400) == float("inf")
    assert duration_seconds(-(10 ** 400)) == float("-inf")
    assert duration_seconds("1.5m") == 90.0
    assert duration_seconds("soon") is None and duration_seconds(True) is None


def test_descriptions_stay_short() -> None:
    assert describe(float("nan")) == "a number (.nan)"
    assert describe(float("-inf")) == "a number (-.inf)"
    assert describe(10 ** 100) == "a number (10000000000000000000... (101 digits))"
    assert describe("x" * 1000) == "text 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'"
    assert quoted("abc") == "'abc'" and len(quoted("y" * 10_000)) == 42


@pytest.mark.parametrize(("value", "platform"), [
    (5, 5), ("web", 5), ("Web", 5), ("android", 2), ("iOS", 1), ("mini-web", 6), ("android_pad", 8),
    ("harmony-os", 11), ("macos", 4), ("7", 7),
])
def test_platforms(value: object, platform: int) -> None:
    assert parse_platform(value) == platform


def test_bad_platforms() -> None:
    with pytest.raises(ValueError, match=r"did you mean 'android'"):
        parse_platform("andorid")
    with pytest.raises(ValueError, match="from 1 to 11, got 0"):
        parse_platform(0)
    with pytest.raises(ValueError, match="platformID"):
        parse_platform(True)


def test_placeholders_and_suggestions() -> None:
    assert placeholders({"a": "{user_id}-{x}", "b": ["{password}", 3], "c": '{"k": 1}'}) == [
        "user_id", "x", "password"]
    assert suggest("steps", ["step", "name"]) == " (did you mean 'step'?)"
    assert suggest("zzz", ["step"]) == ""
    assert suggest("NAME", ["name"]) == " (did you mean 'name'?)"

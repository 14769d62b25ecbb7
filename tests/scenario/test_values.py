"""Durations, platforms and suggestions."""

from __future__ import annotations

import pytest

from callprobe.scenario.values import parse_duration, parse_platform, placeholders, suggest


@pytest.mark.parametrize(("value", "seconds"), [
    (2, 2.0), (0.5, 0.5), ("2s", 2.0), ("500ms", 0.5), ("1.5m", 90.0), ("3", 3.0), (" 250 ms ", 0.25),
    (".5s", 0.5),
])
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", [0, -1, "0s", "2 secs", "s", "", True, None, [1], float("nan"),
                                   float("inf")])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


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

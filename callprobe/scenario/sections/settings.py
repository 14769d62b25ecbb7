"""The ``settings`` section: overrides of ``ClientSettings``, each a named deadline or limit."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import TYPE_CHECKING, Any

from callprobe.errors import CallprobeError
from callprobe.scenario.source import FieldPath
from callprobe.scenario.values import (
    MAX_DURATION_S,
    MAX_INVITE_TIMEOUT_S,
    describe,
    duration_seconds,
    one_of,
    quoted,
    span,
    suggest,
)
from callprobe.settings import ClientSettings

if TYPE_CHECKING:
    from callprobe.scenario.checker import Checker

#: The largest value of a ClientSettings field (every one is in seconds); others: MAX_DURATION_S.
_SETTING_MAX: dict[str, float] = {"diagnose_ring_s": MAX_INVITE_TIMEOUT_S}  # an InvitationInfo.timeout

def _coerce_setting(hint: Any, value: Any, maximum: float) -> Any:
    """``value`` checked against a ClientSettings field's type; ValueError says what was expected.

    Numbers are seconds from 0 to ``maximum``; ``.nan`` and ``.inf`` are refused.
    """
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union \
        else (hint,)
    if value is None:
        if type(None) in allowed:
            return None
        raise ValueError(f"expected {_type_words(allowed)}, got nothing")
    for kind in allowed:
        if kind is bool and isinstance(value, bool):
            return value
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value <= maximum:
                raise ValueError(f"expected a whole number from 0 to {span(maximum)}, got {value}")
            return value
        if kind is float and not isinstance(value, bool) and isinstance(value, (int, float, str)):
            seconds = duration_seconds(value)
            if seconds is None:
                continue  # text that is no duration
            if not 0 <= seconds <= maximum:  # false for nan too
                shown = describe(value) + ("" if isinstance(value, (int, float)) else f" ({seconds:g} s)")
                raise ValueError(f"expected a number of seconds from 0 to {span(maximum)}, got {shown}")
            return seconds
        if kind is str and isinstance(value, str):
            return value
    raise ValueError(f"expected {_type_words(allowed)}, got {describe(value)}")

def _type_words(kinds: tuple[Any, ...]) -> str:
    words = {bool: "true or false", int: "a whole number", float: "a number",
             str: "text", type(None): "nothing (null)"}
    return one_of(words.get(k, getattr(k, "__name__", str(k))) for k in kinds)


def check_settings(c: Checker) -> ClientSettings | None:
    given = c.data.get("settings")
    if given is None or not c.ok(("settings",)):
        return ClientSettings() if given is None else None
    fields = {f.name: f for f in dataclasses.fields(ClientSettings)}
    hints = typing.get_type_hints(ClientSettings)
    overrides: dict[str, Any] = {}
    for key, value in given.items():
        path: FieldPath = ("settings", key)
        if key not in fields:
            c.error(path, f"unknown setting {quoted(key)}{suggest(key, fields)}; "
                             f"expected a ClientSettings field: {one_of(fields)}")
            continue
        try:
            overrides[key] = _coerce_setting(hints[key], value, _SETTING_MAX.get(key, MAX_DURATION_S))
        except ValueError as exc:
            c.error(path, str(exc))
    try:
        return dataclasses.replace(ClientSettings(), **overrides)
    except (TypeError, ValueError, CallprobeError) as exc:  # a field's own validation
        c.error(("settings",), f"settings rejected: {exc}")
        return None

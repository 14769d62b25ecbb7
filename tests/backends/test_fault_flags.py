"""Every server's fault flags cover its fault table exactly, and round-trip through ``active()``."""

from __future__ import annotations

from dataclasses import fields

import pytest

from callprobe.backends.fault_flags import FaultFlags
from callprobe.backends.kkim.server.faults import Faults as KkimFaults
from callprobe.backends.rooms.server.faults import Faults as RoomFaults
from callprobe.backends.socketio.server.faults import Faults as ChatFaults
from callprobe.errors import ConfigError

ALL = [KkimFaults, ChatFaults, RoomFaults]


def _written(cls: type[FaultFlags], name: str) -> tuple[str, str]:
    values = cls.TABLE[name].values
    return name, "" if values is None else "25" if values == "ms" else values[-1]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.FAMILY)
def test_one_field_per_fault(cls: type[FaultFlags]) -> None:
    assert set(cls._field_of()) == set(cls.TABLE)
    assert len(fields(cls)) == len(cls.TABLE)  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.FAMILY)
def test_all_on_round_trips_in_table_order(cls: type[FaultFlags]) -> None:
    pairs = [_written(cls, name) for name in reversed(list(cls.TABLE))]
    on = cls.from_pairs(pairs)
    expected = [f"{n}={v}" if v else n for n, v in (_written(cls, name) for name in cls.TABLE)]
    assert on.active() == expected
    assert cls.from_pairs([tuple(a.partition("=")[::2]) for a in on.active()]) == on  # type: ignore[misc]
    assert cls.from_pairs(()).active() == []


def test_a_fault_of_another_family_is_named_as_such() -> None:
    with pytest.raises(ConfigError, match="belongs to the kkim backend, not rooms"):
        RoomFaults.from_pairs([("push-delay", "10")])

"""A server's switched-on faults as typed flags it checks, built from ``(name, value)`` pairs.

Apart from the tables (``faults.py``) because building flags checks a name
against every family's table (``registry.py``), which imports the tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from typing import Any, ClassVar, Self

from callprobe.backends import registry
from callprobe.backends.faults import FaultTable, parse_fault


class FaultFlags:
    """Base of a server's frozen dataclass with one field per fault of ``TABLE``.

    A field is named after its fault (``_`` for ``-``) or names it in its
    metadata (``field(default=0, metadata={"fault": "push-delay"})``); a flag
    is a ``bool``, a fault with milliseconds an ``int``, one with words a
    ``str``. Servers check the fields; ``active()`` names what is on.
    """

    FAMILY: ClassVar[str]
    TABLE: ClassVar[FaultTable]

    @classmethod
    def parse(cls, text: str) -> tuple[str, str]:
        """``NAME[=VALUE]`` to a checked ``(name, value)`` pair of this family; raise ``ConfigError``."""
        return parse_fault(text, cls.TABLE, cls.FAMILY, registry.fault_tables())

    @classmethod
    def _field_of(cls) -> dict[str, str]:
        return {f.metadata.get("fault", f.name.replace("_", "-")): f.name
                for f in fields(cls)}  # type: ignore[arg-type]  # subclasses are dataclasses

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Self:
        """Build from a server's settings; every pair is re-checked (``ConfigError``)."""
        values: dict[str, Any] = {}
        field_of = cls._field_of()
        for raw_name, raw_value in pairs:
            name, value = cls.parse(f"{raw_name}={raw_value}" if raw_value else raw_name)
            kind = cls.TABLE[name].values
            values[field_of[name]] = True if kind is None else int(value) if kind == "ms" else value
        return cls(**values)

    def active(self) -> list[str]:
        """The faults switched on, in table order, as written (``name`` or ``name=value``)."""
        field_of = self._field_of()
        out = []
        for name in self.TABLE:
            value = getattr(self, field_of[name])
            if value:
                out.append(name if value is True else f"{name}={value}")
        return out

"""The backend families callprobe speaks, and where each one's parts live.

Every family is one package under ``callprobe/backends/`` with the same inner
shape (``docs/architecture.md#new-backend``): ``faults.py`` (pure fault table),
the sans-I/O protocol and client core, ``driver.py`` (the ``Driver`` the
engine plays), ``server/`` (the embedded reference server) and ``walk.py``
(what ``diagnose`` probes beyond the common links). This table is the one
place that names them; modules are imported only when used, so validating a
scenario never loads a server.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from callprobe.backends.faults import FaultTable
from callprobe.errors import ConfigError


@dataclass(frozen=True)
class Family:
    """One backend family.

    Attributes:
        name: the value of ``server.backend.family`` and ``--backend``.
        title: words for messages and help.
        package: the Python package holding its parts.
        schemes: the URL schemes ``--server`` takes for it.
        example_url: a ``--server`` value for messages.
        default_port: ``callprobe serve --backend NAME`` listens here by default.
        rooms: the parties meet in a per-call room they join (scenarios may
            order the joins: ``join_room`` steps, an invite's ``join_order``).
    """

    name: str
    title: str
    package: str
    schemes: tuple[str, ...]
    example_url: str
    default_port: int
    rooms: bool = False

    def module(self, part: str) -> ModuleType:
        """``callprobe.backends.<family>.<part>``, imported now."""
        return importlib.import_module(f"{self.package}.{part}")

    @property
    def faults(self) -> FaultTable:
        table: FaultTable = self.module("faults").FAULTS
        return table


FAMILIES: dict[str, Family] = {
    "kkim": Family("kkim", "KKIM message gateway", "callprobe.backends.kkim", ("ws", "wss"),
                   "ws://host:10001", 10001),
    "socketio": Family("socketio", "Socket.IO chat backend", "callprobe.backends.socketio",
                       ("http", "https"), "http://host:8000", 8000),
    "rooms": Family("rooms", "call-room service", "callprobe.backends.rooms", ("http", "https"),
                    "http://host:8080", 8080, rooms=True),
}

DEFAULT_FAMILY = "kkim"


def family(name: str) -> Family:
    """The family called ``name``; ``ConfigError`` naming the known ones otherwise."""
    found = FAMILIES.get(name)
    if found is None:
        raise ConfigError(f"unknown backend {name!r}", hint=f"backends: {', '.join(FAMILIES)}")
    return found


def fault_tables() -> dict[str, FaultTable]:
    """Every family's fault table, to name the family a misplaced fault belongs to."""
    return {name: fam.faults for name, fam in FAMILIES.items()}


def parse_fault(family_name: str, text: str) -> tuple[str, str]:
    """``NAME[=VALUE]`` of ``family_name``'s table to a checked pair; ``ConfigError`` otherwise."""
    from callprobe.backends.faults import parse_fault as parse

    fam = family(family_name)
    return parse(text, fam.faults, fam.name, fault_tables())

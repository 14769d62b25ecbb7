"""Fault names and values, one table per backend family, parsed in one place.

A fault is a deliberate misbehaviour of an embedded reference server that
reproduces a failure seen in the field (``docs/field-failures.md``). Faults
are written ``NAME`` or ``NAME=VALUE`` (``callprobe serve --fault``, a
scenario's ``server.faults``, ``callprobe diagnose --fault``) and carried as
``(name, value)`` pairs. The tables are pure data, so the scenario loader can
check fault names without importing any server.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from callprobe.errors import ConfigError

#: A fault's value: ``None`` for a flag, ``"ms"`` for a number of milliseconds,
#: or the tuple of allowed words.
FaultValues = tuple[str, ...] | str | None

_MAX_DELAY_MS = 600_000


@dataclass(frozen=True)
class FaultSpec:
    """One fault: its name, the values it takes and what it does, in a line."""

    name: str
    values: FaultValues
    meaning: str

    @property
    def form(self) -> str:
        """How to write it: ``name``, ``name=MS`` or ``name=a|b``."""
        if self.values is None:
            return self.name
        if self.values == "ms":
            return f"{self.name}=MS"
        return f"{self.name}={'|'.join(self.values)}"


FaultTable = dict[str, FaultSpec]


def table(*specs: FaultSpec) -> FaultTable:
    return {spec.name: spec for spec in specs}


def fault_help(faults: FaultTable) -> str:
    """Every fault of a table on one line each, for ``--help``."""
    return "; ".join(f"{spec.form}: {spec.meaning}" for spec in faults.values())


def parse_fault(text: str, faults: FaultTable, family: str,
                others: dict[str, FaultTable] | None = None) -> tuple[str, str]:
    """``NAME[=VALUE]`` to a checked ``(name, value)`` pair of ``family``'s table.

    Raises:
        ConfigError: an unknown name (naming the family that has it, when
            another one does, or the closest known name), or a bad value.
    """
    name, sep, value = text.strip().partition("=")
    name, value = name.strip().lower(), value.strip()
    spec = faults.get(name)
    if spec is None:
        owner = next((f for f, t in (others or {}).items() if name in t and f != family), None)
        if owner is not None:
            raise ConfigError(f"fault {name!r} belongs to the {owner} backend, not {family}",
                              hint=f"{family} faults: {', '.join(sorted(faults))}")
        close = difflib.get_close_matches(name, list(faults), n=1)
        maybe = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown fault {name!r}{maybe} in {text!r} for the {family} backend",
                          hint=f"known faults: {', '.join(sorted(faults))}")
    allowed = spec.values
    if allowed is None:
        if sep and value not in ("", "1", "true", "on"):
            raise ConfigError(f"fault {name!r} takes no value, got {value!r}")
        return name, ""
    if allowed == "ms":
        if not value:
            raise ConfigError(f"fault {name!r} needs a value: {name}=MILLISECONDS")
        try:
            ms = int(value)
        except ValueError:
            raise ConfigError(f"fault {name!r}: {value!r} is not a whole number of milliseconds") from None
        if not 0 <= ms <= _MAX_DELAY_MS:
            raise ConfigError(f"fault {name!r}: {ms} ms is outside 0..{_MAX_DELAY_MS}")
        return name, str(ms)
    if value not in allowed:
        raise ConfigError(f"fault {name!r} needs one of {'|'.join(allowed)}, got {value!r}",
                          hint=f"write --fault {name}={allowed[0]}")
    return name, value


"""A scenario's ``server.backend`` block: which family, and the names its deployment uses.

Homegrown backends of one family differ in exactly their names: REST paths,
event and message names, field names, the JSON type of user ids. Each family
has ``config.py`` with ``parse_options(sink, path, given)``, pure, which
checks its block (every problem reported with file, line and field through
``sink``) and returns its frozen options, a ``BackendOptions``. Nothing here
imports a driver or a server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

#: A place in the scenario file: keys and list indexes from the top.
FieldPath = tuple[str | int, ...]


class OptionsSink(Protocol):
    """Where a family's option check reports: the scenario checker (or a test's fake)."""

    def error(self, path: FieldPath, message: str) -> None: ...

    def text(self, path: FieldPath, value: Any) -> str: ...


@dataclass(frozen=True)
class BackendOptions:
    """A family's options; each family subclasses it with its own fields."""

    family: str = "kkim"


def check_keys(sink: OptionsSink, path: FieldPath, given: Mapping[str, Any], known: Iterable[str]) -> bool:
    """Refuse keys the family does not know, with the closest known one; True when all are known."""
    import difflib

    names = sorted(set(known))
    ok = True
    for key in given:
        if key in names:
            continue
        close = difflib.get_close_matches(str(key), names, n=1)
        maybe = f" (did you mean {close[0]!r}?)" if close else ""
        sink.error(path + (str(key),), f"unknown key {str(key)!r}{maybe}; expected one of: {', '.join(names)}")
        ok = False
    return ok


def names_override(sink: OptionsSink, path: FieldPath, given: Any, defaults: Mapping[str, str],
                   what: str) -> dict[str, str]:
    """A mapping that renames some of ``defaults`` (paths, events, fields); every value non-empty text."""
    if given is None:
        return dict(defaults)
    if not isinstance(given, Mapping):
        sink.error(path, f"expected a mapping of {what} names to what this deployment calls them")
        return dict(defaults)
    check_keys(sink, path, given, defaults)
    out = dict(defaults)
    for key, value in given.items():
        if key not in defaults:
            continue
        text = sink.text(path + (str(key),), value).strip()
        if not text or any(c.isspace() for c in text):
            sink.error(path + (str(key),), f"expected a {what} name without spaces, got {value!r}")
            continue
        out[str(key)] = text
    return out

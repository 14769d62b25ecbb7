"""Strict JSON in, plain JSON out: what the server accepts from clients.

Python's ``json`` takes more than RFC 8259 JSON: ``NaN``, ``Infinity`` and
numbers such as ``1e999`` that become infinite floats, and ``\\ud800`` escapes
that become lone surrogates. Relaying such values would hand other clients
text they cannot parse, and storing them would fail in SQLite, so they are
refused here, once, for REST bodies and room messages alike. Nesting is capped
(``max_json_depth``) so that walking, re-encoding and relaying a value costs
memory and time in proportion to its size (``docs/backends/rooms.md#limits``).
"""

from __future__ import annotations

import json
import math
from typing import Any


class JsonRefused(ValueError):
    """Input that is not acceptable JSON; the message says why, in words for a client."""


def _no_constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused(f"number {text[:20]} is out of range")
    return value


def loads(data: str | bytes, max_depth: int) -> Any:
    """Parse ``data`` as strict JSON no deeper than ``max_depth``.

    Raises:
        JsonRefused: not UTF-8, not JSON, a non-finite number, a lone
            surrogate, or nesting deeper than ``max_depth``.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonRefused(f"not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(data, parse_constant=_no_constant, parse_float=_finite)
    except JsonRefused:
        raise
    except RecursionError:
        raise JsonRefused(f"nested deeper than {max_depth}") from None
    except ValueError as exc:  # JSONDecodeError, and ints over sys.get_int_max_str_digits()
        raise JsonRefused(f"not JSON: {str(exc).splitlines()[0][:60]}") from None
    check(value, max_depth)
    return value


def check(value: Any, max_depth: int) -> None:
    """Walk ``value`` (no recursion): nesting at most ``max_depth``, every string valid Unicode."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _valid_text(item)
        elif isinstance(item, (list, dict)):
            if depth >= max_depth:
                raise JsonRefused(f"nested deeper than {max_depth}")
            if isinstance(item, dict):
                for key, child in item.items():
                    _valid_text(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def _valid_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise JsonRefused(f"string with a lone surrogate at index {exc.start}") from None


def dumps(value: Any) -> str:
    """Compact JSON as Go's encoding/json writes it, but ASCII-only: never a text a socket cannot encode."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)

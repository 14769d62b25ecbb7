"""The rooms family's ``server.backend`` block (the family's names are added with its driver)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from callprobe.backends.options import BackendOptions, FieldPath, OptionsSink, check_keys


def parse_options(sink: OptionsSink, path: FieldPath, given: Mapping[str, Any]) -> BackendOptions:
    check_keys(sink, path, given, ("family",))
    return BackendOptions(family="rooms")

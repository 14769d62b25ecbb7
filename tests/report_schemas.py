"""Validation of reports against the published JSON Schemas (``docs/schemas/``).

``validate_report`` picks the schema by the report's shape (``kind:
"diagnose"`` or a run report); ``validate_event`` checks one timeline event
(an ``--events`` line). ``reports_in`` finds the reports a test wrote, for
the autouse check in ``tests/conftest.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from tests.paths import ROOT

SCHEMAS = ROOT / "docs" / "schemas"
BASE = "https://callprobe.invalid/schemas/"


@cache
def _registry() -> Registry:
    resources = []
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        doc = json.loads(path.read_text())
        resources.append((doc["$id"], Resource.from_contents(doc)))
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Draft202012Validator:
    doc = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(doc)
    return Draft202012Validator(doc, registry=_registry())


def schema_name(report: dict[str, Any]) -> str:
    return "diagnose-report" if report.get("kind") == "diagnose" else "run-report"


def validate_report(report: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` (the best match) when ``report`` breaks its schema."""
    errors = sorted(validator(schema_name(report)).iter_errors(report), key=lambda e: list(e.absolute_path))
    if errors:
        raise errors[0]


def validate_event(event: dict[str, Any]) -> None:
    errors = list(validator("event").iter_errors(event))
    if errors:
        raise errors[0]


def reports_in(folder: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The run and diagnose reports under ``folder`` (JSON files and bundles' report.json)."""
    for path in sorted(folder.rglob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "schema" in data and (
                {"scenario", "verdict", "calls"} <= data.keys() or data.get("kind") == "diagnose"):
            yield path, data

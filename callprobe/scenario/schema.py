"""Check a scenario's shape with its JSON Schema and explain each error in words.

jsonschema finds the errors; this module turns each into a ``Problem`` at the
file line of the offending key or value (through ``Source``), saying what was
expected, what was found, and for unknown keys or values the closest known
one. ``anyOf`` errors are narrowed to the branch that matches what was
written, so ``accept: {agnet: bob}`` is reported as an unknown key, not as
"not valid under any of the given schemas".
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError

from callprobe.scenario.source import FieldPath, Problem, Source
from callprobe.scenario.values import describe, one_of, quoted, suggest

_JSON_TYPES: dict[str, str] = {
    "object": "a mapping", "array": "a list", "string": "text", "integer": "a whole number",
    "number": "a number", "boolean": "true or false", "null": "nothing",
}


@functools.cache
def scenario_schema() -> dict[str, Any]:
    """The scenario JSON Schema (``schema.yaml`` next to this module)."""
    text = resources.files("callprobe.scenario").joinpath("schema.yaml").read_text(encoding="utf-8")
    schema: dict[str, Any] = yaml.safe_load(text)
    return schema


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    schema = scenario_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    # The same schema with every local $ref replaced by its target: a reference costs a lookup each
    # time it is followed, and a file at the size limit follows about 100,000 of them.
    return cls(_inlined(schema, schema))


def _inlined(node: Any, root: Mapping[str, Any]) -> Any:
    """``node`` with each ``{"$ref": "#/$defs/x", ...}`` replaced by its target (the scenario schema
    refers to nothing recursively), ``$defs`` dropped once used."""
    if isinstance(node, Mapping):
        if "$ref" in node:
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            target = _deref({"$ref": node["$ref"]})
            assert not set(siblings) & set(target), f"$ref {node['$ref']} beside its own keys"
            return _inlined({**target, **siblings}, root)
        return {k: _inlined(v, root) for k, v in node.items() if not (node is root and k == "$defs")}
    if isinstance(node, list):
        return [_inlined(item, root) for item in node]
    return node


def action_keys() -> list[str]:
    """The step keys, in schema order (``connect`` ... ``expect``)."""
    return list(scenario_schema()["$defs"]["step"]["properties"])


def check_shape(source: Source) -> list[Problem]:
    """Every schema error in ``source.data``, explained and placed."""
    errors = sorted(_validator().iter_errors(source.data),
                    key=lambda e: (list(map(str, e.absolute_path)), e.validator != "type"))
    problems: list[Problem] = []
    placed: set[FieldPath] = set()
    for error in errors:
        for problem in _explain(error, source):
            # One message per field: `timeout_s: 0.5` breaks "integer" and "minimum 1" at once.
            if problem.path not in placed:
                placed.add(problem.path)
                problems.append(problem)
    return _stray_agents(source, problems)


def _stray_agents(source: Source, problems: list[Problem]) -> list[Problem]:
    """Agents written beside ``agents:`` instead of under it, said once.

    ``agents:`` with nothing under it, followed by top-level keys shaped like
    agents (``alice: {}``, ``bob: {platform: web}``), is one slip: without
    this, it reads as an empty agents block, an unknown key per agent (with a
    "did you mean 'ice'?" for alice) and an unknown agent per step.
    """
    data = source.data
    if not isinstance(data, dict) or isinstance(data.get("agents"), dict):
        return problems
    schema = scenario_schema()
    agent_keys = set(_deref(schema["$defs"]["agent"])["properties"])
    name_pattern = str(_deref(schema["$defs"]["agentNamePattern"])["pattern"])
    after = (source.line_of(("agents",)) or 0) if "agents" in data else 0
    stray = [key for key, value in data.items()
             if key not in schema["properties"] and not key.startswith("x-") and re.search(name_pattern, key)
             and (value is None or (isinstance(value, dict) and set(map(str, value)) <= agent_keys))
             and (source.line_of((key,)) or 0) > after]
    if not stray:
        return problems
    drop = {("agents",)} | {(key,) for key in stray}
    kept = [p for p in problems if p.path not in drop]
    one = len(stray) == 1
    shown = [repr(k) for k in stray[:5]] + ([f"{len(stray) - 5} more"] if len(stray) > 5 else [])
    names = shown[0] if one else ", ".join(shown[:-1]) + " and " + shown[-1]
    looks = f"{names} {'looks like an agent' if one else 'look like agents'}"
    it = "it" if one else "them"
    if "agents" in data:
        message = f"{looks}: indent {it} under agents: (line {after}), like '  {stray[0]}: ...'"
    else:
        message = f"{looks}: put {it} under an agents: key, indented like '  {stray[0]}: ...'"
    kept.append(Problem(source.line_of((stray[0],)), "agents", message, ("agents",)))
    return kept


def _deref(schema: Any) -> Any:
    """Follow local ``#/$defs/...`` references."""
    root = scenario_schema()
    while isinstance(schema, Mapping) and "$ref" in schema:
        target: Any = root
        for part in str(schema["$ref"]).lstrip("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def _type_of(value: Any) -> set[str]:
    if value is None:
        return {"null"}
    if isinstance(value, bool):
        return {"boolean"}
    if isinstance(value, int):
        return {"integer", "number"}
    if isinstance(value, float):
        return {"number"} | ({"integer"} if value.is_integer() else set())
    if isinstance(value, str):
        return {"string"}
    if isinstance(value, list):
        return {"array"}
    if isinstance(value, dict):
        return {"object"}
    return set()


def _accepts_type(schema: Any, value: Any) -> bool:
    schema = _deref(schema)
    if not isinstance(schema, Mapping):
        return True
    if "anyOf" in schema:
        return any(_accepts_type(branch, value) for branch in schema["anyOf"])
    declared = schema.get("type")
    if declared is None:
        return True
    wanted = {declared} if isinstance(declared, str) else set(declared)
    return bool(wanted & _type_of(value))


def _expected(schema: Any) -> str:
    schema = _deref(schema)
    if isinstance(schema, Mapping):
        if "x-expected" in schema:
            return str(schema["x-expected"])
        if "enum" in schema:
            return "one of " + one_of(map(str, schema["enum"]))
        declared = schema.get("type")
        if declared is not None:
            names = [declared] if isinstance(declared, str) else list(declared)
            return one_of(_JSON_TYPES.get(n, n) for n in names)
    return "a valid value"


def _explain(error: ValidationError, source: Source) -> Iterator[Problem]:
    path: FieldPath = tuple(error.absolute_path)
    # jsonschema's stubs type these as "maybe unset"; a reported error has them all
    kind: Any = error.validator
    value: Any = error.instance
    schema: Any = error.schema
    validator_value: Any = error.validator_value

    if kind in ("anyOf", "oneOf"):
        branches = [b for b in range(len(validator_value))
                    if _accepts_type(validator_value[b], value)]
        structural = isinstance(value, (dict, list))
        if len(branches) == 1 and structural:
            inner = [e for e in error.context or () if e.relative_schema_path[0] == branches[0]]
            if inner:
                for sub in inner:
                    yield from _explain(sub, source)
                return
        if len(branches) == 1 and not structural:
            inner = [e for e in error.context or () if e.relative_schema_path[0] == branches[0]]
            detail = _value_detail(inner[0]) if inner else ""
            branch = _deref(validator_value[branches[0]])
            wanted = branch.get("x-expected") if isinstance(branch, Mapping) else None
            if detail:
                yield source.problem(path, f"expected {wanted or _expected(schema)}; {detail}")
                return
        yield source.problem(path, f"expected {_expected(schema)}, got {describe(value)}")
        return

    if kind == "type":
        if value is None and _beside_extra_keys(path, source):
            return  # "- expect:" with its keys not indented: the unknown-key message says it
        yield source.problem(path, f"expected {_expected(schema)}, got {describe(value)}")
        return

    if kind == "enum":
        choices = [str(c) for c in validator_value]
        hint = suggest(str(value), choices) if isinstance(value, str) else ""
        yield source.problem(path, f"expected one of {one_of(choices)}, got {describe(value)}{hint}")
        return

    if kind == "required":
        holder = path[-1] if path else "the scenario"
        known = list(schema.get("properties", {}))
        extras = [k for k in value if k not in known] if isinstance(value, dict) else []
        for key in validator_value:
            if not isinstance(value, dict) or key in value:
                continue
            if any(difflib.get_close_matches(extra, [key], n=1, cutoff=0.6) for extra in extras):
                continue  # a misspelt key: its "did you mean" message says it all
            yield source.problem(path + (key,), f"missing key {key!r} in {holder}: expected {_expected(schema)}")
        return

    if kind == "additionalProperties":
        yield from _unknown_keys(path, value, schema, source)
        return

    if kind == "propertyNames":
        # jsonschema reports the name itself as the instance, at the mapping's path.
        name = str(value)
        yield source.problem(path + (name,), f"{_expected(validator_value)}; got {quoted(name)}")
        return

    if kind == "maxProperties" and _is_step(schema):
        actions = [k for k in value if k in schema["properties"]]
        if len(actions) > 1:
            yield source.problem(path, "a step has exactly one action key, found "
                                 + ", ".join(repr(a) for a in actions)
                                 + "; give each its own '- ' item")
        return  # otherwise the unknown keys are reported on their own

    if kind == "minProperties":
        if _is_step(schema):
            yield source.problem(path, "empty step; expected one action key: " + one_of(action_keys()))
        else:
            yield source.problem(path, f"expected {_expected(schema)}, got an empty mapping")
        return

    if kind == "minItems":
        what = "one step" if path == ("steps",) else "one item"
        yield source.problem(path, f"expected at least {what}, got an empty list")
        return

    if kind == "minLength":
        yield source.problem(path, f"expected {_expected(schema)}, got empty text")
        return

    if "propertyNames" in error.schema_path and isinstance(value, str):
        # A key that breaks a naming rule: jsonschema places it at its mapping.
        yield source.problem(path + (value,), f"expected {_expected(schema)}; got {quoted(value)}")
        return

    yield source.problem(path, f"expected {_expected(schema)}; {_value_detail(error) or error.message}")


def _value_detail(error: ValidationError) -> str:
    """What was wrong with a scalar, for errors inside a chosen anyOf branch."""
    kind, value = error.validator, error.instance
    validator_value: Any = error.validator_value
    if kind == "pattern":
        return f"got {describe(value)}"
    if kind in ("minimum", "exclusiveMinimum"):
        bound = "at least" if kind == "minimum" else "above"
        return f"got {describe(value)}, expected {bound} {validator_value}"
    if kind in ("maximum", "exclusiveMaximum"):
        bound = "at most" if kind == "maximum" else "below"
        return f"got {describe(value)}, expected {bound} {validator_value}"
    if kind == "type":
        return f"got {describe(value)}"
    return ""


def _beside_extra_keys(path: FieldPath, source: Source) -> bool:
    """True for the empty value of a step's action key when the step has other keys."""
    if len(path) != 3 or path[0] != "steps":
        return False
    step = source.value_at(path[:2])
    return isinstance(step, dict) and len(step) > 1


def _is_step(schema: Any) -> bool:
    return isinstance(schema, Mapping) and schema.get("x-kind") == "step"


def _unknown_keys(path: FieldPath, value: Any, schema: Mapping[str, Any], source: Source) -> Iterator[Problem]:
    known = list(schema.get("properties", {}))
    if not isinstance(value, dict):
        return
    patterns = list(schema.get("patternProperties", {}))
    extras = [k for k in value if k not in known and not any(re.search(p, k) for p in patterns)]
    step = _is_step(schema)
    actions = [k for k in value if k in known] if step else []
    for key in extras:
        hint = suggest(key, known)
        if step and actions:
            action = actions[0]
            params = _deref(schema["properties"][action])
            names = list(params.get("properties", {})) if isinstance(params, Mapping) else []
            if key in names or not hint:
                message = (f"unknown key {key!r} beside {action!r}: a step has one action key; "
                           f"to give {key!r} to {action!r}, indent it under '{action}:'")
                yield source.problem(path + (key,), message)
                continue
        expected = f"expected {known[0]!r}" if len(known) == 1 else f"expected one of {one_of(known)}"
        if step:
            message = f"unknown action {quoted(key)}{hint}; {expected}"
        else:
            message = f"unknown key {quoted(key)}{hint}; {expected}"
        yield source.problem(path + (key,), message)

"""YAML text to plain data, keeping where every value and key was written.

PyYAML composes a node tree whose nodes carry ``start_mark``; we build the
plain data from that tree ourselves so each value keeps its path (``("steps",
2, "invite", "to")``) and therefore its line. On the way we catch what the
ordinary loader silently accepts: duplicate keys (the last one would win) and
non-text keys.

Keys are taken as written: ``no:`` is the key ``"no"``, not ``False``.
"""

from __future__ import annotations

import json
import dataclasses
from dataclasses import dataclass
from typing import Any

import yaml

Path = tuple[str | int, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a scenario file, with its place."""

    line: int | None
    field: str
    message: str
    path: Path = dataclasses.field(default=(), compare=False)


def field_name(path: Path) -> str:
    """``steps[3].invite.to`` from ``("steps", 2, "invite", "to")``; list items count from 1."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part + 1}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass
class Source:
    """A parsed scenario file: the data, plus node and key positions by path."""

    file: str
    text: str
    data: Any = None
    nodes: dict[Path, yaml.Node] = dataclasses.field(default_factory=dict)
    keys: dict[Path, yaml.Node] = dataclasses.field(default_factory=dict)
    problems: list[Problem] = dataclasses.field(default_factory=list)

    def line_of(self, path: Path) -> int | None:
        """The 1-based line of a path: its key if it has one, else its node, else its parent's."""
        probe = tuple(path)
        while True:
            node = self.keys.get(probe) or self.nodes.get(probe)
            if node is not None:
                return int(node.start_mark.line) + 1
            if not probe:
                return 1 if self.text else None
            probe = probe[:-1]

    def value_line(self, path: Path) -> int | None:
        """The line of a value itself (not of its key)."""
        node = self.nodes.get(tuple(path))
        return int(node.start_mark.line) + 1 if node is not None else self.line_of(path)

    def value_at(self, path: Path) -> Any:
        """The data at ``path``, or None when the path does not exist."""
        current = self.data
        for part in path:
            if isinstance(current, dict) and isinstance(part, str):
                current = current.get(part)
            elif isinstance(current, list) and isinstance(part, int) and part < len(current):
                current = current[part]
            else:
                return None
        return current

    def raw_text(self, path: Path) -> str | None:
        """A scalar exactly as written (``007`` stays ``"007"``, ``yes`` stays ``"yes"``)."""
        node = self.nodes.get(tuple(path))
        if isinstance(node, yaml.ScalarNode):
            return str(node.value)
        return None

    def snippet(self, path: Path) -> str:
        """The value at ``path`` as one line of text, as written when it fits on one line."""
        node = self.nodes.get(tuple(path))
        if node is None:
            return ""
        start, end = node.start_mark.index, _end_index(node)
        written = self.text[start:end].strip()
        if written and "\n" not in written:
            return written
        return _render(node, top=True)

    def problem(self, path: Path, message: str, *, at_value: bool = False) -> Problem:
        line = self.value_line(path) if at_value else self.line_of(path)
        return Problem(line, field_name(path), message, tuple(path))


def parse(text: str, file: str) -> Source:
    """Parse YAML ``text``; syntax errors and duplicate keys land in ``problems``."""
    source = Source(file=file, text=text)
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            source.problems.append(Problem(1, "", "the file is empty; expected a scenario mapping "
                                                   "with name, agents and steps"))
            return source
        source.data = _Builder(loader, source).build(root, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else None
        what = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        source.problems.append(Problem(line, "", f"YAML syntax error: {what}{_syntax_hint(exc)}"))
    except yaml.YAMLError as exc:
        source.problems.append(Problem(None, "", f"YAML error: {exc}"))
    finally:
        loader.dispose()
    return source


def _syntax_hint(exc: yaml.MarkedYAMLError) -> str:
    """Words for the YAML slips scenario authors make most."""
    problem = exc.problem or ""
    if "'?'" in problem and "flow" in (exc.context or ""):
        return ("; inside [...] or {...} a value with '?' must be quoted, "
                "like ['turn:127.0.0.1:3478?transport=udp']")
    if "'\\t'" in problem:
        return "; indent with spaces, not tabs"
    return ""


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, source: Source) -> None:
        self.loader, self.source = loader, source
        self.active: set[int] = set()

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.source.nodes[path] = node
        if isinstance(node, yaml.ScalarNode):
            return self.loader.construct_object(node, deep=True)
        if id(node) in self.active:
            self.source.problems.append(Problem(node.start_mark.line + 1, field_name(path),
                                                "an alias refers to itself; expected plain data"))
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
        finally:
            self.active.discard(id(node))
        return None  # pragma: no cover - PyYAML has only three node kinds

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        seen: dict[str, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = str(key_node.value)
            if key in seen:
                first = seen[key].start_mark.line + 1
                self.source.problems.append(Problem(
                    key_node.start_mark.line + 1, field_name(path + (key,)),
                    f"duplicate key {key!r} (first given on line {first}); keep one", path + (key,)))
            seen[key] = key_node
        self.loader.flatten_mapping(node)  # resolves "<<" merge keys in place
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.source.problems.append(Problem(
                    key_node.start_mark.line + 1, field_name(path),
                    "a key must be plain text, not a list or mapping"))
                continue
            key = str(key_node.value)
            self.source.keys[path + (key,)] = key_node
            out[key] = self.build(value_node, path + (key,))
        return out


def _end_index(node: yaml.Node) -> int:
    """Where a node's own text ends (block collections end at the next token)."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _end_index(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _end_index(node.value[-1])
    return int(node.end_mark.index)


def _render(node: yaml.Node, top: bool = False) -> str:
    """A node in one-line flow style, scalars in their written style."""
    if isinstance(node, yaml.ScalarNode):
        value = str(node.value)
        if node.style in (None, "") and "\n" not in value:
            return value
        if node.style == "'":
            return "'" + value.replace("'", "''") + "'"
        return json.dumps(value, ensure_ascii=False)
    if isinstance(node, yaml.SequenceNode):
        return "[" + ", ".join(_render(item) for item in node.value) + "]"
    if isinstance(node, yaml.MappingNode):
        body = ", ".join(f"{_render(k)}: {_render(v)}" for k, v in node.value)
        return body if top else "{" + body + "}"
    return ""  # pragma: no cover

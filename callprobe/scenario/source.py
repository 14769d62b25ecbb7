"""YAML text to plain data, keeping where every value and key was written.

PyYAML composes a node tree whose nodes carry ``start_mark``; we build the
plain data from that tree ourselves so each value keeps its path (``("steps",
2, "invite", "to")``) and therefore its line. On the way we catch what the
ordinary loader silently accepts: duplicate keys (the last one would win) and
non-text keys. A hostile file stops at a limit (size, nesting, values once
aliases are expanded) with a problem, never a RecursionError or a hang.

Keys are taken as written: ``no:`` is the key ``"no"``, not ``False``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from callprobe.scenario.values import quoted

FieldPath = tuple[str | int, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a scenario file, with its place."""

    line: int | None
    field: str
    message: str
    path: FieldPath = dataclasses.field(default=(), compare=False)
    column: int | None = dataclasses.field(default=None, compare=False)  # 1-based; YAML syntax errors

    def __post_init__(self) -> None:
        # A backstop: a message quotes what was written, and that may be a megabyte of it.
        object.__setattr__(self, "field", _clip(self.field, 120))
        object.__setattr__(self, "message", _clip(self.message, 600))


def _clip(text: str, limit: int) -> str:
    """``text`` cut in its middle to about ``limit`` characters, keeping both ends."""
    if len(text) <= limit:
        return text
    keep = (limit - 5) // 2
    return f"{text[:keep]} ... {text[-keep:]}"


def field_name(path: FieldPath) -> str:
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
    nodes: dict[FieldPath, yaml.Node] = dataclasses.field(default_factory=dict)
    keys: dict[FieldPath, yaml.Node] = dataclasses.field(default_factory=dict)
    problems: list[Problem] = dataclasses.field(default_factory=list)

    def line_of(self, path: FieldPath) -> int | None:
        """The 1-based line of a path: its key if it has one, else its node, else its parent's."""
        probe = tuple(path)
        while True:
            node = self.keys.get(probe) or self.nodes.get(probe)
            if node is not None:
                return int(node.start_mark.line) + 1
            if not probe:
                return 1 if self.text else None
            probe = probe[:-1]

    def value_line(self, path: FieldPath) -> int | None:
        """The line of a value itself (not of its key)."""
        node = self.nodes.get(tuple(path))
        return int(node.start_mark.line) + 1 if node is not None else self.line_of(path)

    def value_at(self, path: FieldPath) -> Any:
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

    def raw_text(self, path: FieldPath) -> str | None:
        """A scalar exactly as written (``007`` stays ``"007"``, ``yes`` stays ``"yes"``)."""
        node = self.nodes.get(tuple(path))
        if isinstance(node, yaml.ScalarNode):
            return str(node.value)
        return None

    def snippet(self, path: FieldPath) -> str:
        """The value at ``path`` as one line of text, as written when it fits on one line."""
        node = self.nodes.get(tuple(path))
        if node is None:
            return ""
        start, end = node.start_mark.index, _end_index(node)
        written = self.text[start:end].strip()
        if written and "\n" not in written:
            return written
        return _render(node, top=True)

    def problem(self, path: FieldPath, message: str, *, at_value: bool = False) -> Problem:
        line = self.value_line(path) if at_value else self.line_of(path)
        return Problem(line, field_name(path), message, tuple(path))


#: Limits on what a scenario file may hold; a hand-written scenario is far below each.
MAX_FILE_BYTES = 1 << 20     # 1 MiB of text
MAX_DEPTH = 32               # nesting of lists and mappings, aliases and merge keys included
MAX_VALUES = 100_000         # values once aliases are expanded (an alias bomb stops here)


class LimitError(yaml.MarkedYAMLError):
    """A file past one of the limits above; ``problem`` says which, ``problem_mark`` where."""


class _DepthLimit:
    """Refuses nesting deeper than ``MAX_DEPTH`` before Python's stack would (PyYAML composes recursively)."""

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[attr-defined]
                raise LimitError(problem=f"lists and mappings nested deeper than {MAX_DEPTH} levels; "
                                 "a scenario needs a handful", problem_mark=mark)
            return super().compose_node(parent, index)  # type: ignore[misc,no-any-return]
        finally:
            self.depth -= 1


class _Loader(_DepthLimit, yaml.SafeLoader):
    """The safe loader, pure Python: its messages are the ones a broken file gets."""


def _libyaml_parser() -> Any:
    """libyaml's scanner and parser, when PyYAML was built with it (None: the pure-Python loader does it all)."""
    try:
        from yaml import cyaml
    except ImportError:  # pragma: no cover - depends on how PyYAML was installed
        return None
    return getattr(cyaml, "CParser", None)


_CParser: Any = _libyaml_parser()


class _FastLoader(_DepthLimit, Composer, SafeConstructor, Resolver, _CParser or object):  # type: ignore[misc]
    """libyaml scans and parses (the bulk of the time, about 3 times faster); composing stays Python,
    with the same depth limit, nodes and marks as ``_Loader``."""

    def __init__(self, stream: str) -> None:
        _CParser.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


def _fast_root(text: str) -> tuple[Any, yaml.Node] | None:
    """The document's node tree through libyaml, or None: no libyaml, a character YAML forbids,
    an empty document or any error, all of which the pure-Python loader then reports in its words."""
    if _CParser is None or yaml.reader.Reader.NON_PRINTABLE.search(text):
        return None
    try:
        loader = _FastLoader(text)
        root = loader.get_single_node()
    except Exception:  # any complaint is the pure-Python loader's to word
        return None
    return (loader, root) if root is not None else None


def parse(text: str, file: str) -> Source:
    """Parse YAML ``text``; syntax errors, duplicate keys and limits land in ``problems``.

    A good file is parsed by libyaml when PyYAML has it (the 1 MiB limit then
    checks in about a second); a broken one by the pure-Python loader, whose
    messages carry the hints below.
    """
    source = Source(file=file, text=text)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        source.problems.append(Problem(None, "", f"the file is {size} bytes, over the limit of "
                                                 f"{MAX_FILE_BYTES} (1 MiB); a scenario is far smaller"))
        return source
    loader: Any = None
    try:
        fast = _fast_root(text)
        if fast is not None:
            loader, root = fast
        else:
            loader = _Loader(text)  # checks every character first
            root = loader.get_single_node()
        if root is None:
            source.problems.append(Problem(1, "", "the file is empty; expected a scenario mapping "
                                                   "with name, agents and steps"))
            return source
        source.data = _Builder(loader, source).build(root, ())
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        source.problems.append(Problem(line, "", f"character U+{ord(char):04X} is not allowed in YAML "
                                                 "(a control character); remove it, or write it as an "
                                                 "escape inside double quotes"))
    except LimitError as exc:
        source.problems.append(Problem(_line(exc), "", str(exc.problem)))
    except yaml.MarkedYAMLError as exc:
        words, column = _syntax_words(exc, text)
        source.problems.append(Problem(_line(exc), "", f"YAML syntax error: {words}", column=column))
    except yaml.YAMLError as exc:
        source.problems.append(Problem(None, "", f"YAML error: {exc}"))
    finally:
        if loader is not None:
            loader.dispose()
    if source.problems and source.data is None:
        source.nodes.clear()  # nothing usable was built: the later passes have nothing to say
    return source


def _line(exc: yaml.MarkedYAMLError) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    return int(mark.line) + 1 if mark is not None else None


def _column(exc: yaml.MarkedYAMLError) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    return int(mark.column) + 1 if mark is not None else None


def _syntax_words(exc: yaml.MarkedYAMLError, text: str) -> tuple[str, int | None]:
    """PyYAML's complaint, in words where we know the slip behind it, and its 1-based column."""
    problem = exc.problem or ""
    mark = exc.problem_mark
    if problem.startswith("expected <block end>, but found '<block") and mark is not None:
        words = _misindented(text.splitlines(), mark.line, mark.column)
        if words:
            return words, mark.column + 1
    if problem == "mapping values are not allowed here" and mark is not None:
        # "server: ws://h:1" then "   api: ..." further right: YAML reads "ws://h:1 api" as one text
        lines = text.splitlines()
        line = lines[mark.line] if mark.line < len(lines) else ""
        indent = len(line) - len(line.lstrip(" "))
        if ":" not in line[indent:mark.column] and _continues_a_value(lines, mark.line, indent):
            words = _misindented(lines, mark.line, indent)
            if words:
                return words, indent + 1  # the key, not the colon YAML stumbled on
    what = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
    return what + _syntax_hint(exc), _column(exc)


def _continues_a_value(lines: list[str], row: int, indent: int) -> bool:
    """True when the line above ``row`` is a ``key: value`` less indented than ``indent``."""
    for above in range(row - 1, -1, -1):
        stripped = lines[above].strip()
        if not stripped or stripped.startswith("#"):
            continue
        before = len(lines[above]) - len(lines[above].lstrip(" "))
        key, colon, value = stripped.partition(": ")
        return before < indent and bool(colon) and bool(value.strip()) and not key.startswith("-")
    return False


def _misindented(lines: list[str], row: int, column: int) -> str:
    """Words for a key (or list item) indented where no mapping (or list) above it has its keys.

    The levels a line may take are those of the lines above it that are
    further left than every line between: the keys it could line up with.
    The closest level is suggested (the deeper one on a tie), with the key
    that level belongs under.
    """
    if row >= len(lines):
        return ""
    written = lines[row][column:].split(" #")[0].strip()
    key = written.split(":")[0].strip() if not written.startswith("-") else "- " + written[1:].split(":")[0].strip()
    levels: list[tuple[int, str, int]] = []  # (indentation, key, line), right to left
    for above in range(row - 1, -1, -1):
        text = lines[above]
        stripped = text.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(text) - len(stripped)
        if not levels or indent < levels[-1][0]:
            name = stripped.split(":")[0].strip() if not stripped.startswith("-") else \
                "- " + stripped[1:].split(":")[0].strip()
            levels.append((indent, name, above + 1))
        if indent == 0:
            break
    if not levels:
        return ""
    best = min(range(len(levels)), key=lambda i: (abs(levels[i][0] - column), i))
    indent, sibling, line = levels[best]
    parent = levels[best + 1] if best + 1 < len(levels) else None
    where = f"under {parent[1]}: (line {parent[2]})" if parent else "at the top level"
    spaces = f"{indent} space{'s' if indent != 1 else ''}" if indent else "no spaces"
    what, article, holder = ("item", "an", "list") if key.startswith("-") else ("key", "a", "mapping")
    return (f"{_clip(repr(key), 42)} is indented {column} space{'s' if column != 1 else ''}, where no "
            f"{what} above it is: {article} {what} at this indentation belongs to no {holder}. To put it "
            f"{where}, indent it with {spaces}, like {_clip(repr(sibling), 42)} on line {line}")


def _syntax_hint(exc: yaml.MarkedYAMLError) -> str:
    """Words for the YAML slips scenario authors make most."""
    problem = exc.problem or ""
    if "'?'" in problem and "flow" in (exc.context or ""):
        return ("; inside [...] or {...} a value with '?' must be quoted, "
                "like ['turn:127.0.0.1:3478?transport=udp']")
    if "'\\t'" in problem:
        return "; indent with spaces, not tabs"
    if "could not determine a constructor" in problem:
        return "; a scenario holds plain data: remove the '!' tag"
    if "mapping values are not allowed here" in problem:
        return ("; a value on the same line as its key cannot hold another 'key: value': write it in "
                "braces (alice: {platform: web}) or on its own line, indented under its key; quote a "
                "text that holds ': '")
    return ""


class _Builder:
    """Plain data from the node tree, recording every path's node; aliases are expanded here.

    Merge keys (``<<``) are resolved here too, rather than by PyYAML's
    ``flatten_mapping``, whose copies grow exponentially with chained merges.
    """

    def __init__(self, loader: Any, source: Source) -> None:
        self.loader, self.source = loader, source
        self.active: set[int] = set()
        self.merging: set[int] = set()
        self.merged: dict[int, list[tuple[yaml.Node, yaml.Node]]] = {}
        self.count = 0

    def build(self, node: yaml.Node, path: FieldPath) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise LimitError(problem=f"the file holds more than {MAX_VALUES} values (each use of a "
                             "YAML alias counts everything it holds); a scenario needs far fewer",
                             problem_mark=node.start_mark)
        if len(path) > MAX_DEPTH:
            raise LimitError(problem=f"{field_name(path[:3])}...: lists and mappings nested "
                             f"deeper than {MAX_DEPTH} levels (through aliases); a scenario needs a "
                             "handful", problem_mark=node.start_mark)
        self.source.nodes[path] = node
        if isinstance(node, yaml.ScalarNode):
            value = self.loader.construct_object(node, deep=True)
            if isinstance(value, str) and not _encodable(value):
                self.source.problems.append(Problem(
                    node.start_mark.line + 1, field_name(path),
                    "the text holds half of a UTF-16 surrogate pair (like \\ud800); "
                    "write the character itself or its \\U escape", path))
                return value.encode("utf-8", "backslashreplace").decode("utf-8")  # checked on as text
            return value
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

    def _mapping(self, node: yaml.MappingNode, path: FieldPath) -> dict[str, Any]:
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
        out: dict[str, Any] = {}
        for key_node, value_node in self._pairs(node, path, 0):
            key = str(key_node.value)
            self.source.keys[path + (key,)] = key_node
            out[key] = self.build(value_node, path + (key,))
        return out

    def _pairs(self, node: yaml.MappingNode, path: FieldPath, depth: int) -> list[tuple[yaml.Node, yaml.Node]]:
        """The key/value nodes of a mapping with its merge keys applied, each key once.

        As in YAML: a key written in the mapping beats a merged one, and of
        ``<<: [*a, *b]`` the earlier mapping wins.
        """
        cached = self.merged.get(id(node))
        if cached is not None:
            return cached
        if depth > MAX_DEPTH:
            raise LimitError(problem=f"merge keys ('<<') chained deeper than {MAX_DEPTH} levels",
                             problem_mark=node.start_mark)
        self.merging.add(id(node))
        merged: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        own: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        try:
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    for source in self._merge_sources(key_node, value_node, path):
                        for pair in self._pairs(source, path, depth + 1):
                            merged.setdefault(str(pair[0].value), pair)
                elif isinstance(key_node, yaml.ScalarNode):
                    own[str(key_node.value)] = (key_node, value_node)
                else:
                    self.source.problems.append(Problem(
                        key_node.start_mark.line + 1, field_name(path),
                        "a key must be plain text, not a list or mapping"))
        finally:
            self.merging.discard(id(node))
        merged.update(own)
        pairs = list(merged.values())
        self.merged[id(node)] = pairs
        return pairs

    def _merge_sources(self, key_node: yaml.Node, value: yaml.Node, path: FieldPath) -> list[yaml.MappingNode]:
        """The mappings a ``<<`` key merges, earliest-winning first; problems for anything else."""
        items = value.value if isinstance(value, yaml.SequenceNode) else [value]
        sources: list[yaml.MappingNode] = []
        for item in items:
            line = key_node.start_mark.line + 1
            if not isinstance(item, yaml.MappingNode):
                self.source.problems.append(Problem(
                    line, field_name(path + ("<<",)), "'<<' merges a mapping or a list of mappings "
                    f"(like <<: *phone), got {_node_kind(item)}", path + ("<<",)))
            elif id(item) in self.merging:
                self.source.problems.append(Problem(
                    line, field_name(path + ("<<",)), "'<<' merges the mapping it is in; "
                    "expected another mapping", path + ("<<",)))
            else:
                sources.append(item)
        return sources


def _node_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.ScalarNode):
        return f"text {quoted(str(node.value))}" if node.value else "nothing"
    return "a mapping"  # pragma: no cover - mappings are merged, not reported


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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

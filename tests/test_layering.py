"""The import rules of ``docs/architecture.md#import-rules``, checked on the source.

Every ``import`` in ``callprobe/`` (at any depth, lazy ones included) is an
edge between two modules; these tests fail when an edge breaks a rule, so
the layering cannot drift silently.
"""

from __future__ import annotations

import ast
from functools import cache

import pytest

from tests.paths import ROOT

PACKAGE = ROOT / "callprobe"


@cache
def edges() -> dict[str, frozenset[str]]:
    """Module name -> the callprobe modules it imports (lazy and TYPE_CHECKING ones included)."""
    out: dict[str, frozenset[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if "_pb" in path.parts:
            continue
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("callprobe"):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("callprobe"))
        modules = {m for m in found if _exists(m) and m != name}
        out[name] = frozenset(modules)
    return out


def _exists(module: str) -> bool:
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def importers(prefix: str) -> dict[str, frozenset[str]]:
    return {m: deps for m, deps in edges().items() if m == prefix or m.startswith(prefix + ".")}


def under(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_graph_is_read() -> None:
    assert len(edges()) > 100
    assert "callprobe.timeline.events" in edges()["callprobe.analysis.metrics"]


def test_a_protocol_layer_imports_nothing_above_it() -> None:
    for module, deps in importers("callprobe.backends.kkim.protocol").items():
        bad = [d for d in deps if not under(d, "callprobe.backends.kkim.protocol", "callprobe.errors")]
        assert not bad, f"{module} imports {bad}"


@pytest.mark.parametrize("family", ["kkim", "socketio", "rooms"])
def test_fault_tables_are_pure_data(family: str) -> None:
    deps = edges().get(f"callprobe.backends.{family}.faults", frozenset())
    assert all(under(d, "callprobe.backends.faults", "callprobe.errors") for d in deps), deps


def test_the_timeline_imports_nothing_but_itself() -> None:
    for module, deps in importers("callprobe.timeline").items():
        assert all(under(d, "callprobe.timeline") for d in deps), (module, deps)


#: What analysis may read besides itself: events, settings, errors, pure models and helpers.
ANALYSIS_MAY = ("callprobe.analysis", "callprobe.timeline", "callprobe.settings", "callprobe.errors",
                "callprobe.scenario.model", "callprobe.rtc.ice_config")


def test_analysis_never_imports_io() -> None:
    for module, deps in importers("callprobe.analysis").items():
        bad = [d for d in deps if not under(d, *ANALYSIS_MAY)]
        assert not bad, f"{module} imports {bad}"


def test_reporters_never_import_the_engine_nor_a_backend() -> None:
    for module, deps in importers("callprobe.reporters").items():
        bad = [d for d in deps if under(d, "callprobe.engine", "callprobe.backends", "callprobe.commands",
                                        "callprobe.net", "callprobe.rtc.peer")]
        assert not bad, f"{module} imports {bad}"


def test_the_engine_reaches_backends_only_through_the_registry_and_the_base() -> None:
    for module, deps in importers("callprobe.engine").items():
        bad = [d for d in deps if under(d, "callprobe.backends")
               and not under(d, "callprobe.backends.base", "callprobe.backends.registry")]
        assert not bad, f"{module} imports {bad}"


def test_lower_layers_never_import_commands_or_the_cli() -> None:
    for module, deps in edges().items():
        if under(module, "callprobe.commands", "callprobe.cli", "callprobe.__main__"):
            continue
        bad = [d for d in deps if under(d, "callprobe.commands", "callprobe.cli")]
        assert not bad, f"{module} imports {bad}"


def test_the_scenario_loader_never_imports_a_server() -> None:
    for module, deps in importers("callprobe.scenario").items():
        bad = [d for d in deps if (under(d, "callprobe.backends") and ".server" in d) or under(d, "callprobe.engine")]
        assert not bad, f"{module} imports {bad}"


def test_rtc_never_imports_the_network_tools() -> None:
    """The TURN probe is injected into the peer; only socket placement (netns) is shared."""
    for module, deps in importers("callprobe.rtc").items():
        bad = [d for d in deps if under(d, "callprobe.net") and d != "callprobe.net.netns"
               and d != "callprobe.net"]
        assert not bad, f"{module} imports {bad}"


def test_no_module_import_cycles() -> None:
    graph = {m: {d for d in deps if d in edges()} for m, deps in edges().items()}
    # a package's __init__ re-exporting its modules is not a cycle of layers
    for m in graph:
        graph[m] = {d for d in graph[m] if not m.startswith(d + ".")}
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if seen.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for node in sorted(graph):
        if node not in seen:
            visit(node)

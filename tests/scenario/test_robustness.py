"""Whatever a file holds, the loader answers with a Scenario or a ScenarioError, never a traceback."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callprobe.errors import ScenarioError
from callprobe.scenario import InvalidScenario, load_scenario_text
from tests.paths import SCENARIOS
from tests.scenario.samples import FULL

BASIC = yaml.safe_load((SCENARIOS / "basic.yaml").read_text())

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 20), st.floats(width=32),
                    st.sampled_from(["alice", "bob", "2s", "web", "video", "ringing", "ws://h:1", "{user_id}",
                                     "", "x" * 3, "turn:h:1", "answered"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["agent", "event", "within", "from", "to", "urls", "mode", "name",
                                     "absent", "for", "call", "media", "platform", "x"]), inner, max_size=3)),
    max_leaves=8)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += _paths(value, prefix + (index,))
    return out


PATHS = [p for p in _paths(BASIC) if p]
FULL_DATA = yaml.safe_load(FULL)
FULL_PATHS = [p for p in _paths(FULL_DATA) if p]


def _check(text: str) -> None:
    try:
        load_scenario_text(text, file="fuzz.yaml")
    except InvalidScenario as exc:
        assert exc.problems
        assert str(exc).startswith("fuzz.yaml")
        for problem in exc.problems:
            assert problem.message and "Traceback" not in problem.message
    except ScenarioError:
        pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}#&*!|>'\"\n\t ,?%@`19"))))
def test_arbitrary_text(text: str) -> None:
    _check(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS), values)
def test_one_value_of_a_good_scenario_replaced(path: tuple[Any, ...], value: Any) -> None:
    data = yaml.safe_load(yaml.safe_dump(BASIC))
    holder = data
    for part in path[:-1]:
        holder = holder[part]
    holder[path[-1]] = value
    _check(yaml.safe_dump(data, sort_keys=False))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(FULL_PATHS), values), min_size=1, max_size=3))
def test_values_of_a_full_scenario_replaced(changes: list[tuple[tuple[Any, ...], Any]]) -> None:
    data = yaml.safe_load(yaml.safe_dump(FULL_DATA))
    for path, value in changes:
        holder = data
        try:
            for part in path[:-1]:
                holder = holder[part]
            holder[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed this path
    _check(yaml.safe_dump(data, sort_keys=False))

"""Pass 3's shared state: the parsed source, the problems so far, and the helpers every section uses.

A section reads ``data``, reports through ``error`` (file, line and field come
from the source's marks) and skips what pass 2 already found broken
(``intact``/``ok``), so one slip gives one message.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from callprobe.scenario.model import AgentConfig
from callprobe.scenario.source import FieldPath, Problem, Source
from callprobe.scenario.values import parse_duration, quoted, suggest, user_id_problem


class Checker:
    """What the section checks share; ``agents`` and ``top_ice`` fill in as sections run."""

    def __init__(self, source: Source, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        self.broken = {p.path for p in problems}
        # every prefix of a broken path: "is anything below this path broken" in one lookup
        self._broken_below = {p[:i] for p in self.broken for i in range(len(p) + 1)}
        data = source.data
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        agents = self.data.get("agents")
        self.agent_names: dict[str, None] = dict.fromkeys(str(k) for k in agents) if isinstance(agents, dict) else {}
        # no usable agents block: its own problem says so, and every agent name in the steps would
        # only repeat it ("unknown agent 'alice'; the agents are: none")
        self.agents_missing = not isinstance(agents, dict) or ("agents",) in self.broken
        self.agents: dict[str, AgentConfig] = {}
        self.top_ice: dict[str, Any] | None = None  # the scenario's ice keys, merged under each agent's

    def error(self, path: FieldPath, message: str) -> None:
        self.problems.append(self.source.problem(path, message))

    def intact(self, path: FieldPath) -> bool:
        """True when pass 2 found nothing wrong at ``path`` itself or above it.

        Each check looks up the path's prefixes, never the whole list of
        problems: a file with thousands of broken steps checks in linear time.
        """
        return not any(path[:i] in self.broken for i in range(len(path) + 1))

    def ok(self, path: FieldPath) -> bool:
        """True when pass 2 found nothing wrong at, above or below ``path``."""
        return self.intact(path) and tuple(path) not in self._broken_below

    def text(self, path: FieldPath, value: Any) -> str:
        """A text field as written: numbers and true/false keep their spelling."""
        if isinstance(value, str):
            return value
        raw = self.source.raw_text(path)
        return raw if raw is not None else str(value)

    def agent_ref(self, path: FieldPath, value: Any) -> str | None:
        """A known agent name (as written), or None after reporting an unknown one."""
        name = self.text(path, value)
        if name in self.agent_names:
            return name
        if self.agents_missing:
            return None
        hint = suggest(name, self.agent_names)
        known = ", ".join(self.agent_names) if self.agent_names else "none defined"
        self.error(path, f"unknown agent {quoted(name)}{hint}; the agents are: {known}")
        return None

    def user_of(self, name: str) -> str:
        agent = self.agents.get(name)
        return agent.user_id if agent else name

    def no_control(self, path: FieldPath, text: str, what: str) -> None:
        """Report a control character (a line break, NUL...) in ``text``: surely a slip there."""
        bad = next((c for c in text if unicodedata.category(c) == "Cc"), None)
        if bad is not None:
            self.error(path, f"expected {what} without control characters, got {quoted(text)} "
                             f"(U+{ord(bad):04X} at position {text.index(bad) + 1})")

    def check_user_id(self, path: FieldPath, user_id: str) -> None:
        """A user ID an invitation can carry: clients drop invitations naming anything else."""
        problem = user_id_problem(user_id)
        if problem is not None:
            self.error(path, problem)

    def duration(self, path: FieldPath, value: Any) -> float | None:
        """Seconds of a duration the schema let through, or None after reporting it (``.nan``, ``90m``)."""
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.error(path, str(exc))
            return None

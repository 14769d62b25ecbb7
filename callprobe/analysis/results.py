"""What a run or a diagnose walk produced, as plain data for the reporters.

The engine fills these in; reporters read them and never import the engine
(``docs/architecture.md#import-rules``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callprobe.analysis.diagnostics.findings import Finding, Severity
from callprobe.analysis.metrics import CallMetrics
from callprobe.timeline.events import Event, PartyInfo


@dataclass
class StepResult:
    """One expectation (or a failed action) as reported."""

    line: int
    text: str
    passed: bool
    detail: str
    kind: str = "expectation"  # or "action"
    t_ms: float = 0.0          # when it was judged (run time)
    duration_ms: float = 0.0   # how long it took (an expectation's wait, an action's work)


@dataclass
class RunResult:
    """One played scenario: its timeline, verdicts, call figures and findings."""

    scenario: str
    file: str
    server: dict[str, Any]
    duration_ms: float
    events: list[Event]
    steps: list[StepResult]
    calls: list[CallMetrics]
    findings: list[Finding] = field(default_factory=list)
    aborted: str = ""
    unreachable: bool = False  # the run stopped because the server could not be reached
    start_failed: bool = False  # a server callprobe runs itself could not start
    interrupted: str = ""      # "Ctrl-C" or "SIGTERM" when a signal stopped the run

    @property
    def verdict(self) -> str:
        return "pass" if not self.aborted and all(s.passed for s in self.steps) else "fail"

    @property
    def parties(self) -> list[PartyInfo]:
        """What each party was (agent, browser, remote on which host, external), the last word on each."""
        latest: dict[str, PartyInfo] = {}
        for e in self.events:
            if isinstance(e, PartyInfo) and e.agent:
                latest[e.agent] = e
        return list(latest.values())

    @property
    def failures(self) -> list[StepResult]:
        return [s for s in self.steps if not s.passed]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]


@dataclass(frozen=True)
class LinkResult:
    """One link the walk tried: which, by which step and agent, and whether it held."""

    link: str
    step: str
    agent: str
    ok: bool


@dataclass(frozen=True)
class WalkTargetInfo:
    """Where and whom a walk probed, as reports show it (never credentials)."""

    server: str
    api: str
    caller: str
    callee: str
    media: str
    backend: str = "kkim"
    caller_platform: int = 5
    callee_platform: int = 5


@dataclass
class WalkResult:
    """One diagnose walk: its timeline, the links tried and the findings."""

    target: WalkTargetInfo
    events: list[Event]
    findings: list[Finding]
    first: Finding | None
    links: list[LinkResult]
    duration_ms: float = 0.0
    aborted: str = ""
    unreachable: bool = False  # no server, or no WebSocket gateway, answered at the address
    interrupted: str = ""      # "Ctrl-C" or "SIGTERM" when a signal stopped the walk

    @property
    def healthy(self) -> bool:
        """No error finding, every link walked ended well, and nothing aborted."""
        return (not self.aborted and all(link.ok for link in self.links)
                and not any(f.severity is Severity.ERROR for f in self.findings))

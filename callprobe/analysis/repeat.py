"""What ``run --repeat`` produced: every run, and the aggregate (docs/load.md#repeat-and-flake-control)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callprobe.analysis.load.aggregate import Aggregate
from callprobe.analysis.results import RunResult
from callprobe.errors import ConfigError


@dataclass
class RepeatRun:
    """One of the runs: its number, its users' suffix, its result."""

    number: int
    users: str
    result: RunResult


@dataclass
class RepeatResult:
    scenario: str
    file: str
    times: int
    required: int
    parallel: int
    runs: list[RepeatRun] = field(default_factory=list)
    totals: Aggregate = field(default_factory=Aggregate)
    server: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0
    interrupted: str = ""          # "Ctrl-C" or "SIGTERM" when a signal stopped the runs

    @property
    def passed(self) -> int:
        return sum(1 for r in self.runs if r.result.verdict == "pass")

    @property
    def verdict(self) -> str:
        return "pass" if self.passed >= self.required else "fail"

    @property
    def unreachable(self) -> bool:
        return bool(self.runs) and all(r.result.unreachable for r in self.runs)


def parse_require(text: str | None, times: int) -> int:
    """``K/N`` or ``K`` (N must be the number of runs); default: all of them."""
    if text is None:
        return times
    k_text, _, n_text = text.partition("/")
    try:
        k, n = int(k_text), int(n_text) if n_text else times
    except ValueError:
        raise ConfigError(f"--require {text!r}: write K/N, e.g. 49/50") from None
    if n != times:
        raise ConfigError(f"--require {text!r}: N must be the number of runs, {times} (--repeat)")
    if not 0 <= k <= times:
        raise ConfigError(f"--require {text!r}: K lies between 0 and {times}")
    return k



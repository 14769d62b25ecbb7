"""What a load run produced, as plain data for the reporters (docs/load.md#outputs).

The controller fills a ``LoadReport``; the JSON summary
(``docs/schemas/load-report.schema.json``), the CSV time series, JUnit, the
HTML page and the console summary all read it and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callprobe.analysis.load.aggregate import Aggregate
from callprobe.analysis.load.thresholds import ThresholdResult

SCHEMA_VERSION = 1

#: Columns of the per-second time series (CSV header, JSON ``series`` keys).
SERIES_COLUMNS = ("second", "offered", "started", "completed", "passed", "failed", "dropped", "interrupted",
                  "active_calls", "active_agents", "ring_p50_ms", "ring_p99_ms", "ice_p95_ms", "media_delivered",
                  "notices_lost")


def series_row(second: int, agg: Aggregate, active_calls: int, active_agents: int) -> dict[str, Any]:
    """One second of the run: what the workers reported for it, merged."""
    ring, ice = agg.figure("ring"), agg.figure("ice")
    delivered = agg.delivered()
    return {
        "second": second + 1, "offered": agg.started + agg.dropped, "started": agg.started,
        "completed": agg.completed, "passed": agg.passed, "failed": agg.failed, "dropped": agg.dropped,
        "interrupted": agg.interrupted, "active_calls": active_calls, "active_agents": active_agents,
        "ring_p50_ms": _r(ring.percentile_ms(50)), "ring_p99_ms": _r(ring.percentile_ms(99)),
        "ice_p95_ms": _r(ice.percentile_ms(95)), "media_delivered": None if delivered is None else round(delivered, 5),
        "notices_lost": sum(agg.notices_lost.values()),
    }


@dataclass
class LoadReport:
    """A whole load run: its settings, totals, time series, thresholds, workers, server and kept calls."""

    scenario: str
    file: str
    backend: str
    options: dict[str, Any]
    started_at: str
    duration_s: float
    totals: Aggregate
    series: list[dict[str, Any]] = field(default_factory=list)
    thresholds: list[ThresholdResult] = field(default_factory=list)
    workers: list[dict[str, Any]] = field(default_factory=list)
    server: dict[str, Any] = field(default_factory=dict)
    kept: list[dict[str, Any]] = field(default_factory=list)
    kept_counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    measured: dict[str, str] = field(default_factory=dict)
    stop_reason: str = ""
    errors: list[str] = field(default_factory=list)
    peak_active_calls: int = 0
    peak_active_agents: int = 0

    @property
    def thresholds_passed(self) -> bool:
        return all(t.passed for t in self.thresholds)

    @property
    def verdict(self) -> str:
        """``pass`` when every threshold held and no worker failed (``load`` adds ``failed==0`` when none is given)."""
        return "pass" if self.thresholds_passed and not self.errors else "fail"

    @property
    def unreachable(self) -> bool:
        """Every call that ended failed because the server could not be reached."""
        t = self.totals
        return t.completed > 0 and t.unreachable == t.completed

    def to_json(self) -> dict[str, Any]:
        cpu = [w.get("cpu_s") or 0.0 for w in self.workers]
        return {
            "schema": SCHEMA_VERSION,
            "kind": "load",
            "scenario": self.scenario,
            "file": self.file,
            "backend": self.backend,
            "verdict": self.verdict,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
            "stop_reason": self.stop_reason or None,
            "options": self.options,
            "notes": self.notes,
            "measured": self.measured,
            "totals": {**self.totals.summary(), "peak_active_calls": self.peak_active_calls,
                       "peak_active_agents": self.peak_active_agents},
            "thresholds": [t.to_json() for t in self.thresholds],
            "server": self.server,
            "workers": self.workers,
            "cpu": {"workers_s": round(sum(cpu), 3), "server_s": self.server.get("cpu_s")},
            "errors": self.errors,
            "series": self.series,
            "kept": {**self.kept_counts, "calls": self.kept},
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass
class LiveSnapshot:
    """What the live dashboard shows, once a second."""

    phase: str                      # starting | running | stopping | done
    elapsed_s: float
    duration_s: float | None
    model: str
    target: str                     # "40 pairs" | "20/s"
    active_calls: int = 0
    active_agents: int = 0
    offered_per_s: float = 0.0
    completed_per_s: float = 0.0
    started: int = 0
    completed: int = 0
    failed: int = 0
    dropped: int = 0
    success: float | None = None
    ring_p50_ms: float | None = None
    ring_p99_ms: float | None = None
    ice_p95_ms: float | None = None
    media_delivered: float | None = None
    findings: list[tuple[str, int]] = field(default_factory=list)
    failures: list[tuple[str, int]] = field(default_factory=list)
    workers: int = 0
    thresholds: list[ThresholdResult] = field(default_factory=list)

    @property
    def remaining_s(self) -> float | None:
        return None if self.duration_s is None else max(0.0, self.duration_s - self.elapsed_s)


def snapshot_figures(totals: Aggregate) -> dict[str, Any]:
    """The dashboard's figures from the run's totals."""
    return {
        "started": totals.started, "completed": totals.completed, "failed": totals.failed,
        "dropped": totals.dropped, "success": totals.success_ratio,
        "ring_p50_ms": totals.figure("ring").percentile_ms(50), "ring_p99_ms": totals.figure("ring").percentile_ms(99),
        "ice_p95_ms": totals.figure("ice").percentile_ms(95), "media_delivered": totals.delivered(),
        "findings": totals.findings.most_common(6), "failures": totals.failures.most_common(3),
    }

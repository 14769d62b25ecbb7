"""Counts and histograms of many calls, merged exactly (docs/load.md#how-figures-are-merged).

An ``Aggregate`` is what a worker builds from its ``CallRecord``s over one
second, what the controller merges into the run's totals, and what a report
summarises. ``to_wire``/``from_wire`` carry it between processes as plain
data (histograms HDR-encoded), so any transport will do: a pipe, a Ray
actor's return value.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from callprobe.analysis.load.histograms import Histogram
from callprobe.analysis.load.records import FIGURES, POOR_LEG_RATIO, CallRecord

_COUNTS = ("started", "completed", "passed", "failed", "interrupted", "dropped", "unreachable",
           "heartbeats_missed", "legs", "poor_legs")


class Aggregate:
    """Calls started, completed, passed and failed; figures; findings; frames delivered."""

    def __init__(self) -> None:
        self.started = 0          # calls begun
        self.completed = 0        # calls played to their end (passed + failed)
        self.passed = 0
        self.failed = 0
        self.interrupted = 0      # calls cut short by the end of the run or an abort
        self.dropped = 0          # arrivals not started: the worker was at its cap of active calls
        self.unreachable = 0      # failed calls whose server could not be reached
        self.heartbeats_missed = 0
        self.legs = 0             # media legs measured
        self.poor_legs = 0        # ... under POOR_LEG_RATIO delivered
        self.worst_leg: float | None = None
        self.hist: dict[str, Histogram] = {}
        self.findings: Counter[str] = Counter()      # calls showing each finding code
        self.failures: Counter[str] = Counter()      # failed calls by reason
        self.outcomes: Counter[str] = Counter()
        self.notices_lost: Counter[str] = Counter()
        self.media: dict[str, list[int]] = {}        # kind -> [frames sent, frames received]

    # ------------------------------------------------------------ filling

    def add(self, record: CallRecord) -> None:
        self.completed += 1
        if record.passed:
            self.passed += 1
        else:
            self.failed += 1
            self.failures[record.reason or "failed"] += 1
            self.unreachable += int(record.unreachable)
        self.outcomes[record.outcome] += 1
        for name, values in record.figures.items():
            hist = self.hist.get(name)
            if hist is None:
                hist = self.hist[name] = Histogram()
            for value in values:
                hist.record_ms(value)
        self.findings.update(record.findings)
        self.notices_lost.update(record.notices_lost)
        self.heartbeats_missed += record.heartbeats_missed
        for leg in record.delivery:
            pair = self.media.setdefault(leg.kind, [0, 0])
            pair[0] += leg.sent
            pair[1] += min(leg.received, leg.sent) if leg.sent else leg.received
        for ratio in _leg_ratios(record):
            self.legs += 1
            self.poor_legs += int(ratio < POOR_LEG_RATIO)
            self.worst_leg = ratio if self.worst_leg is None else min(self.worst_leg, ratio)

    def merge(self, other: Aggregate) -> None:
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.worst_leg is not None:
            self.worst_leg = other.worst_leg if self.worst_leg is None else min(self.worst_leg, other.worst_leg)
        for name, hist in other.hist.items():
            mine = self.hist.get(name)
            if mine is None:
                self.hist[name] = mine = Histogram()
            mine.merge(hist)
        self.findings.update(other.findings)
        self.failures.update(other.failures)
        self.outcomes.update(other.outcomes)
        self.notices_lost.update(other.notices_lost)
        for kind, (sent, received) in other.media.items():
            pair = self.media.setdefault(kind, [0, 0])
            pair[0] += sent
            pair[1] += received

    # ------------------------------------------------------------- reading

    @property
    def success_ratio(self) -> float | None:
        return self.passed / self.completed if self.completed else None

    def delivered(self, kind: str | None = None) -> float | None:
        """Frames received over frames sent, of ``kind`` or of every kind; ``None`` without media."""
        pairs = [v for k, v in self.media.items() if kind is None or k == kind]
        sent = sum(p[0] for p in pairs)
        return sum(p[1] for p in pairs) / sent if sent else None

    def figure(self, name: str) -> Histogram:
        return self.hist.get(name) or Histogram()

    def summary(self) -> dict[str, Any]:
        """Everything as plain data, for reports."""
        media: dict[str, Any] = {"delivered": _ratio(self.delivered()), "legs": self.legs,
                                 "poor_legs": self.poor_legs, "poor_leg_threshold": POOR_LEG_RATIO,
                                 "worst_leg": _ratio(self.worst_leg)}
        for kind, (sent, received) in sorted(self.media.items()):
            media[kind] = {"sent": sent, "received": received, "delivered": _ratio(self.delivered(kind))}
        return {
            **{name: getattr(self, name) for name in ("started", "completed", "passed", "failed", "interrupted",
                                                        "dropped", "unreachable")},
            "success": _ratio(self.success_ratio),
            "figures": {name: self.figure(name).summary() for name in FIGURES},
            "notices_lost": {k: self.notices_lost.get(k, 0) for k in ("ring", "accept", "hangup")},
            "heartbeats_missed": self.heartbeats_missed,
            "findings": dict(self.findings.most_common()),
            "failures": [{"reason": r, "calls": n} for r, n in self.failures.most_common(20)],
            "outcomes": dict(self.outcomes.most_common()),
            "media": media,
        }

    # ---------------------------------------------------------------- wire

    def to_wire(self) -> dict[str, Any]:
        return {
            **{name: getattr(self, name) for name in _COUNTS},
            "worst_leg": self.worst_leg,
            "hist": {name: h.encode() for name, h in self.hist.items() if h.count},
            "findings": dict(self.findings), "failures": dict(self.failures), "outcomes": dict(self.outcomes),
            "notices_lost": dict(self.notices_lost), "media": {k: list(v) for k, v in self.media.items()},
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Aggregate:
        out = cls()
        for name in _COUNTS:
            setattr(out, name, int(data.get(name, 0)))
        out.worst_leg = data.get("worst_leg")
        out.hist = {name: Histogram.decode(text) for name, text in data.get("hist", {}).items()}
        out.findings = Counter(data.get("findings", {}))
        out.failures = Counter(data.get("failures", {}))
        out.outcomes = Counter(data.get("outcomes", {}))
        out.notices_lost = Counter(data.get("notices_lost", {}))
        out.media = {k: [int(v[0]), int(v[1])] for k, v in data.get("media", {}).items()}
        return out

    @property
    def empty(self) -> bool:
        return not any(getattr(self, name) for name in _COUNTS)


def _leg_ratios(record: CallRecord) -> list[float]:
    """One delivery ratio per leg (agent), every kind it received taken together."""
    per_agent: dict[str, list[int]] = {}
    for leg in record.delivery:
        pair = per_agent.setdefault(leg.agent, [0, 0])
        pair[0] += leg.sent
        pair[1] += min(leg.received, leg.sent)
    return [received / sent for sent, received in per_agent.values() if sent]


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 5)

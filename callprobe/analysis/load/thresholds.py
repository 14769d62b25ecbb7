"""Pass/fail criteria of a load run, in the manner of k6 (docs/load.md#thresholds).

Grammar (spaces allowed around the operator)::

    threshold := metric op value
    op        := "<" | "<=" | ">" | ">=" | "==" | "!="
    metric    := figure "." stat            a per-call figure (FIGURES), value a duration: 200ms, 1.5s
               | "success"                  share of completed calls that passed, value a ratio: 99.5% or 0.995
               | "media.delivered"          frames received / frames sent, both ways, every kind (ratio)
               | "media.audio.delivered" | "media.video.delivered"
               | "media.poor_legs"          legs with under 95 % of frames delivered (count)
               | "failed" | "completed" | "dropped" | "interrupted"      calls (count)
               | "notices.lost"             ring, accept and hang-up notices never heard (count)
               | "heartbeats.missed"        (count)
               | "finding." CODE            calls showing that finding (count)
    stat      := "p" NUMBER | "min" | "max" | "mean" | "avg" | "count"
    value     := NUMBER [unit]              unit: ms, s (durations); % (ratios); none for counts

A threshold whose metric has no data (no call measured it) fails: a run
cannot claim what it did not measure.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from callprobe.analysis.load.aggregate import Aggregate
from callprobe.analysis.load.records import FIGURES
from callprobe.errors import ConfigError

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
}

#: Figure names a threshold may also use.
ALIASES = {"join_notice": "accept_notice", "time_to_ring": "ring", "time_to_answer": "answer",
           "first_media": "media", "ice_connected": "ice"}

COUNTS = {"failed": "failed", "completed": "completed", "dropped": "dropped", "interrupted": "interrupted",
          "notices.lost": "", "heartbeats.missed": "heartbeats_missed", "media.poor_legs": "poor_legs"}
RATIOS = ("success", "media.delivered", "media.audio.delivered", "media.video.delivered")

GRAMMAR_HINT = ("write METRIC OP VALUE, e.g. 'ring.p99<200ms', 'success>=99.5%', 'media.delivered>=95%', "
                "'failed==0', 'finding.SIGNALS_LOST==0'; figures: " + ", ".join(FIGURES)
                + "; see docs/load.md#thresholds")

_EXPR = re.compile(r"^\s*(?P<metric>[A-Za-z_][\w.]*?)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>[-+]?[\d.]+)\s*"
                   r"(?P<unit>ms|s|%)?\s*$")
_STAT = re.compile(r"^(?:p(?P<pct>\d+(?:\.\d+)?)|min|max|mean|avg|count)$")


@dataclass(frozen=True)
class Threshold:
    """One parsed criterion. ``value`` is in ms (durations), 0..1 (ratios) or calls (counts)."""

    text: str
    metric: str
    op: str
    value: float
    kind: str  # "duration" | "ratio" | "count"

    def holds(self, observed: float) -> bool:
        return OPERATORS[self.op](observed, self.value)


@dataclass(frozen=True)
class ThresholdResult:
    threshold: Threshold
    observed: float | None
    passed: bool

    def to_json(self) -> dict[str, object]:
        return {"threshold": self.threshold.text, "metric": self.threshold.metric, "op": self.threshold.op,
                "value": self.threshold.value, "kind": self.threshold.kind,
                "observed": None if self.observed is None else round(self.observed, 5), "passed": self.passed}

    def describe(self) -> str:
        """The observed value in the threshold's own unit."""
        return format_value(self.observed, self.threshold.kind)


def parse_threshold(text: str) -> Threshold:
    """``text`` checked against the grammar; ``ConfigError`` naming what is wrong otherwise."""
    m = _EXPR.match(text)
    if not m:
        raise ConfigError(f"threshold {text!r} is not METRIC OP VALUE", hint=GRAMMAR_HINT)
    metric, op, unit = m["metric"], m["op"], m["unit"]
    try:
        number = float(m["value"])
    except ValueError:
        raise ConfigError(f"threshold {text!r}: {m['value']!r} is not a number", hint=GRAMMAR_HINT) from None
    if metric in RATIOS:
        if unit not in (None, "%"):
            raise ConfigError(f"threshold {text!r}: {metric} is a ratio; write a percentage (99.5%) "
                              "or a fraction (0.995)", hint=GRAMMAR_HINT)
        value = number / 100.0 if unit == "%" else number
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"threshold {text!r}: a ratio lies between 0% and 100%", hint=GRAMMAR_HINT)
        return Threshold(text.strip(), metric, op, value, "ratio")
    if metric in COUNTS or metric.startswith("finding."):
        if unit is not None:
            raise ConfigError(f"threshold {text!r}: {metric} counts calls; give a plain number", hint=GRAMMAR_HINT)
        if metric.startswith("finding.") and not re.fullmatch(r"finding\.[A-Z][A-Z0-9_]*", metric):
            raise ConfigError(f"threshold {text!r}: name a finding code in capitals, e.g. finding.SIGNALS_LOST",
                              hint=GRAMMAR_HINT)
        return Threshold(text.strip(), metric, op, number, "count")
    figure, _, stat = metric.partition(".")
    figure = ALIASES.get(figure, figure)
    if figure not in FIGURES:
        raise ConfigError(f"threshold {text!r}: unknown metric {metric!r}", hint=GRAMMAR_HINT)
    if not _STAT.match(stat):
        raise ConfigError(f"threshold {text!r}: {stat!r} is no statistic (p50, p95, p99, p99.9, min, max, "
                          "mean, count)", hint=GRAMMAR_HINT)
    if stat == "count":
        if unit is not None:
            raise ConfigError(f"threshold {text!r}: a count takes a plain number", hint=GRAMMAR_HINT)
        return Threshold(text.strip(), f"{figure}.count", op, number, "count")
    pct = _STAT.match(stat)
    if pct and pct["pct"] is not None and not 0.0 < float(pct["pct"]) <= 100.0:
        raise ConfigError(f"threshold {text!r}: a percentile lies between p0 and p100", hint=GRAMMAR_HINT)
    if unit == "%":
        raise ConfigError(f"threshold {text!r}: {figure} is a duration; write ms or s", hint=GRAMMAR_HINT)
    value = number * 1000.0 if unit == "s" else number
    return Threshold(text.strip(), f"{figure}.{'mean' if stat == 'avg' else stat}", op, value, "duration")


def observe(threshold: Threshold, totals: Aggregate) -> float | None:
    """The value of ``threshold``'s metric in ``totals``; ``None`` when nothing measured it."""
    metric = threshold.metric
    if metric == "success":
        return totals.success_ratio
    if metric == "media.delivered":
        return totals.delivered()
    if metric.startswith("media.") and metric.endswith(".delivered"):
        return totals.delivered(metric.split(".")[1])
    if metric == "notices.lost":
        return float(sum(totals.notices_lost.values()))
    if metric in COUNTS:
        return float(getattr(totals, COUNTS[metric]))
    if metric.startswith("finding."):
        return float(totals.findings.get(metric.split(".", 1)[1], 0))
    figure, _, stat = metric.partition(".")
    hist = totals.figure(figure)
    if stat == "count":
        return float(hist.count)
    if stat == "min":
        return hist.min_ms()
    if stat == "max":
        return hist.max_ms()
    if stat == "mean":
        return hist.mean_ms()
    return hist.percentile_ms(float(stat[1:]))


def evaluate(thresholds: list[Threshold], totals: Aggregate) -> list[ThresholdResult]:
    out = []
    for threshold in thresholds:
        observed = observe(threshold, totals)
        out.append(ThresholdResult(threshold, observed, observed is not None and threshold.holds(observed)))
    return out


def format_value(value: float | None, kind: str) -> str:
    if value is None:
        return "no data"
    if kind == "duration":
        return f"{value:.1f}ms"
    if kind == "ratio":
        return f"{value * 100:.2f}%"
    return f"{value:g}"

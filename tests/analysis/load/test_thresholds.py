"""Thresholds: the grammar of docs/load.md#thresholds, clear refusals, judged on aggregates."""

from __future__ import annotations

import pytest

from callprobe.analysis.load.aggregate import Aggregate
from callprobe.analysis.load.records import CallRecord, LegDelivery
from callprobe.analysis.load.thresholds import evaluate, parse_threshold
from callprobe.errors import ConfigError


@pytest.mark.parametrize("text, metric, op, value, kind", [
    ("ring.p99<200ms", "ring.p99", "<", 200.0, "duration"),
    ("ring.p99.9 <= 1.5s", "ring.p99.9", "<=", 1500.0, "duration"),
    ("join_notice.p95<50", "accept_notice.p95", "<", 50.0, "duration"),
    ("ice.avg<300ms", "ice.mean", "<", 300.0, "duration"),
    ("success>=99.5%", "success", ">=", 0.995, "ratio"),
    ("media.delivered>=0.95", "media.delivered", ">=", 0.95, "ratio"),
    ("failed==0", "failed", "==", 0.0, "count"),
    ("finding.SIGNALS_LOST==0", "finding.SIGNALS_LOST", "==", 0.0, "count"),
    ("notices.lost != 3", "notices.lost", "!=", 3.0, "count"),
])
def test_good_expressions_parse(text: str, metric: str, op: str, value: float, kind: str) -> None:
    t = parse_threshold(text)
    assert (t.metric, t.op, t.value, t.kind) == (metric, op, pytest.approx(value), kind)


@pytest.mark.parametrize("text, words", [
    ("ring<200ms", "no statistic"),
    ("rung.p99<200ms", "unknown metric"),
    ("ring.p99 200ms", "not METRIC OP VALUE"),
    ("success>=120%", "between 0% and 100%"),
    ("success>=99ms", "ratio"),
    ("ring.p99<5%", "duration"),
    ("failed<3ms", "plain number"),
    ("finding.lost==0", "capitals"),
    ("ring.p0<5ms", "percentile"),
])
def test_bad_expressions_are_refused_with_the_grammar(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_threshold(text)
    assert words in str(caught.value)
    assert "docs/load.md#thresholds" in (caught.value.hint or "")


def test_thresholds_are_judged_on_the_totals_and_no_data_fails() -> None:
    totals = Aggregate()
    for n in range(100):
        totals.add(CallRecord(number=n, passed=n != 0, figures={"ring": [float(n)]},
                              delivery=(LegDelivery("bob", "audio", 100, 97),)))
    results = {r.threshold.text: r for r in evaluate(
        [parse_threshold(t) for t in ("ring.p50<60ms", "ring.max<50ms", "success>=99%", "success>=99.5%",
                                      "media.delivered>=95%", "media.video.delivered>=95%", "failed<=1")], totals)}
    assert results["ring.p50<60ms"].passed and not results["ring.max<50ms"].passed
    assert results["success>=99%"].passed and not results["success>=99.5%"].passed
    assert results["media.delivered>=95%"].passed
    assert results["media.video.delivered>=95%"].observed is None and not results["media.video.delivered>=95%"].passed
    assert results["failed<=1"].passed
    assert results["media.delivered>=95%"].describe() == "97.00%"

"""HDR histograms and aggregates merge exactly, and travel as plain data."""

from __future__ import annotations

import json
import random

from callprobe.analysis.load.aggregate import Aggregate
from callprobe.analysis.load.histograms import Histogram
from callprobe.analysis.load.records import CallRecord, LegDelivery, failure_reason, lost_notices
from callprobe.analysis.metrics import CallMetrics, NoticeDelivery
from callprobe.analysis.results import StepResult


def test_a_histogram_reads_back_its_percentiles_within_a_thousandth() -> None:
    h = Histogram()
    for ms in range(1, 1001):
        h.record_ms(float(ms))
    assert h.count == 1000
    for pct, expected in ((50, 500.0), (99, 990.0), (100, 1000.0)):
        assert abs((h.percentile_ms(pct) or 0) - expected) <= expected * 0.001 + 0.001
    assert Histogram().percentile_ms(99) is None and Histogram().summary()["p99"] is None


def test_merging_is_exact_whatever_the_split_and_never_an_average_of_percentiles() -> None:
    rng = random.Random(7)
    fast = [rng.uniform(5, 15) for _ in range(990)]
    slow = [rng.uniform(900, 1100) for _ in range(10)]
    whole, a, b = Histogram(), Histogram(), Histogram()
    for v in fast + slow:
        whole.record_ms(v)
    for v in fast:
        a.record_ms(v)
    for v in slow:
        b.record_ms(v)
    merged = Histogram.decode(a.encode())
    merged.merge(Histogram.decode(b.encode()))
    assert merged.count == whole.count
    for pct in (50, 90, 99, 99.5, 99.9):
        assert merged.percentile_ms(pct) == whole.percentile_ms(pct)
    averaged = ((a.percentile_ms(99) or 0) + (b.percentile_ms(99) or 0)) / 2
    assert abs(averaged - (merged.percentile_ms(99) or 0)) > 100  # what averaging would have claimed


def record(number: int, passed: bool = True, **kwargs: object) -> CallRecord:
    base: dict[str, object] = {"figures": {"ring": [10.0 + number], "ice": [100.0]}}
    base.update(kwargs)
    return CallRecord(number=number, passed=passed, **base)  # type: ignore[arg-type]


def test_an_aggregate_counts_calls_figures_findings_and_frames() -> None:
    agg = Aggregate()
    agg.add(record(1))
    agg.add(record(2, passed=False, reason="line 5: expect answered", findings=("ANSWER_NOT_RELAYED",),
                   notices_lost={"accept": 1}))
    agg.add(record(3, delivery=(LegDelivery("alice", "audio", 100, 99), LegDelivery("bob", "audio", 100, 80))))
    assert (agg.completed, agg.passed, agg.failed) == (3, 2, 1)
    assert agg.success_ratio == 2 / 3
    assert agg.figure("ring").count == 3
    assert agg.findings == {"ANSWER_NOT_RELAYED": 1} and agg.notices_lost == {"accept": 1}
    assert agg.delivered() == 179 / 200 and agg.delivered("video") is None
    assert (agg.legs, agg.poor_legs, agg.worst_leg) == (2, 1, 0.8)


def test_an_aggregate_survives_the_wire_and_merges_like_one() -> None:
    one, a, b = Aggregate(), Aggregate(), Aggregate()
    for n in range(1, 41):
        rec = record(n, passed=n % 10 != 0, reason="why", findings=("X",) if n % 10 == 0 else (),
                     delivery=(LegDelivery("bob", "video", 30, 30 - n % 3),))
        one.add(rec)
        (a if n % 2 else b).add(rec)
    a.dropped, b.interrupted = 2, 1
    one.dropped, one.interrupted = 2, 1
    merged = Aggregate.from_wire(json.loads(json.dumps(a.to_wire())))
    merged.merge(Aggregate.from_wire(json.loads(json.dumps(b.to_wire()))))
    assert merged.summary() == one.summary()


def test_lost_notices_count_what_was_sent_and_never_heard() -> None:
    rang = CallMetrics("alice", "bob", "r1", "audio", outcome="answered", time_to_ring_ms=5.0,
                       join_notice=NoticeDelivery(True, 3.0), hangup_notice=NoticeDelivery(False),
                       signaling={"hung_up_by": "alice"})
    silent = CallMetrics("alice", "bob", "r2", "audio", outcome="no-answer")
    refused = CallMetrics("alice", "bob", "", "audio", outcome="busy")
    assert lost_notices([rang, silent, refused]) == {"ring": 1, "hangup": 1}


def test_failure_reasons_group_across_numbered_users() -> None:
    steps = [StepResult(3, "expect ringing", True, ""),
             StepResult(5, "expect answered", False, "alice-000017 heard nothing from bob-000017")]
    assert failure_reason(steps, "") == "line 5: expect answered: alice-N heard nothing from bob-N"
    assert failure_reason([], "stopped after a failed connection") == "stopped after a failed connection"

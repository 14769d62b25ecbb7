"""HDR histograms of call figures, merged exactly (docs/load.md#how-figures-are-merged).

A figure is recorded in microseconds, from 1 µs to one hour, to three
significant digits: a percentile read back is within 0.1 % of the true one.
Workers send their histograms encoded (``encode``: compressed, base64); the
controller decodes and adds them count by count, so the p99 of a whole run
is the p99 of every call it placed, never an average of workers' p99s.
"""

from __future__ import annotations

from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3

#: The percentiles a summary lists (as their names in a report).
PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0),
                                              ("p99.9", 99.9))


class Histogram:
    """Durations in milliseconds, stored as an HDR histogram of microseconds."""

    __slots__ = ("_h",)

    def __init__(self, hdr: Any = None) -> None:
        self._h = hdr if hdr is not None else HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)

    def record_ms(self, ms: float) -> None:
        self._h.record_value(max(LOWEST_US, min(HIGHEST_US, round(ms * 1000.0))))

    @property
    def count(self) -> int:
        return int(self._h.get_total_count())

    def percentile_ms(self, percentile: float) -> float | None:
        """The value at ``percentile`` (0-100), or ``None`` when nothing was recorded."""
        if not self.count:
            return None
        return float(self._h.get_value_at_percentile(percentile)) / 1000.0

    def min_ms(self) -> float | None:
        return float(self._h.get_min_value()) / 1000.0 if self.count else None

    def max_ms(self) -> float | None:
        return float(self._h.get_max_value()) / 1000.0 if self.count else None

    def mean_ms(self) -> float | None:
        return float(self._h.get_mean_value()) / 1000.0 if self.count else None

    def merge(self, other: Histogram) -> None:
        """Add every count of ``other``: exact, whatever the order."""
        if other.count:
            self._h.add(other._h)

    def encode(self) -> str:
        encoded = self._h.encode()
        return encoded.decode("ascii") if isinstance(encoded, bytes) else str(encoded)

    @classmethod
    def decode(cls, text: str) -> Histogram:
        out = cls()
        out._h.add(HdrHistogram.decode(text.encode("ascii")))
        return out

    def summary(self) -> dict[str, Any]:
        """``count``, ``min``, the percentiles, ``max``, ``mean`` in ms (``None`` when empty)."""
        out: dict[str, Any] = {"count": self.count, "min": _r(self.min_ms())}
        for name, pct in PERCENTILES:
            out[name] = _r(self.percentile_ms(pct))
        out["max"] = _r(self.max_ms())
        out["mean"] = _r(self.mean_ms())
        return out


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)

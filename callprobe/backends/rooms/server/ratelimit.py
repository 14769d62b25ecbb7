"""A token bucket per room socket: how fast one client may send (``docs/backends/rooms.md#limits``).

Time is passed in (the event loop's clock), so the bucket is pure and tests
drive it with plain numbers.
"""

from __future__ import annotations


class TokenBucket:
    """``burst`` messages at once, then ``rate`` per second."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._at = now

    def take(self, now: float) -> bool:
        """Spend one token; ``False`` (nothing spent) when the bucket is empty."""
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

"""What one connection or one request may cost the gateway, and what happens past it.

Rules (``docs/backends/kkim.md#limits``; every number is a ``GatewaySettings`` field):

* A request that names more items than ``max_request_items`` (1002 ranges,
  1005 conversations, 1006/1007 conversationIDs, 1004 invitees, 2005 user
  IDs) is not served: the connection is closed with 1008 and a reason, as a
  malformed request is (docs/backends/kkim.md#where-servers-differ). Upstream serves any number, which is
  how one 577-byte pull could ask for gigabytes.
* A connection that sends data frames faster than ``max_frames_per_s`` once
  its ``frame_burst`` is spent is closed with 1008 and a reason. Upstream has
  no such limit; a closed connection is the answer a client already handles
  for a misbehaving request, where an errCode reply would still cost a reply
  per flooded frame.
* History replies are cut, not refused: see ``ReplyBudget``.
"""

from __future__ import annotations

from callprobe.backends.kkim.protocol.constants import CloseCode
from callprobe.backends.kkim.protocol.errors import FatalFrameError


class RequestOverLimit(FatalFrameError):
    """A request names more items than the gateway serves in one request: close 1008."""

    code = "REQUEST_OVER_LIMIT"
    close_code = CloseCode.POLICY_VIOLATION


class RateLimited(FatalFrameError):
    """A connection sends frames faster than its allowed rate: close 1008."""

    code = "RATE_LIMITED"
    close_code = CloseCode.POLICY_VIOLATION


def check_items(count: int, limit: int, what: str) -> None:
    """Raise ``RequestOverLimit`` when a request names more than ``limit`` items."""
    if count > limit:
        raise RequestOverLimit(f"{what}: {count} in one request, over the limit of {limit}")


class TokenBucket:
    """``burst`` frames at once, then ``rate`` frames per second; time is passed in.

    Args:
        rate: tokens added per second (``None``: never limits).
        burst: the bucket's size, and what a new connection starts with.
    """

    def __init__(self, rate: float | None, burst: int, now: float) -> None:
        self.rate, self.burst = rate, max(1, burst)
        self._tokens = float(self.burst)
        self._at = now

    def take(self, now: float) -> bool:
        """Spend one token; ``False`` when the bucket is empty."""
        if self.rate is None:
            return True
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


#: protobuf bytes a ``PullMsgs`` entry adds per message beyond the message itself
#: (field tag and a length of up to 3 bytes for messages under 2 MB)
_ENTRY_OVERHEAD = 4


class ReplyBudget:
    """The protobuf bytes one history reply (1002, 1005, 1007) may still carry.

    A message is added only while it fits in what is left of ``max_reply_bytes``,
    except that the first message of a reply always fits, so a client paging
    through history always gets somewhere. When the budget stops a range, the
    caller reports it as ``isEnd`` false.
    """

    def __init__(self, max_bytes: int) -> None:
        self.left = max_bytes
        self.used = 0
        self.cut = False

    def admit(self, size: int) -> bool:
        """Reserve room for one message of ``size`` bytes; ``False`` (and ``cut``) once it does not fit."""
        cost = size + _ENTRY_OVERHEAD
        if self.cut or (cost > self.left and self.used > 0):
            self.cut = True
            return False
        self.left -= cost
        self.used += cost
        return True

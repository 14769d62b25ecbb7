"""Errors of the WebRTC layer.

A remote peer (or a gateway relaying its signals) can send an offer, answer or
candidate that aiortc cannot use. aiortc answers with a bare ``ValueError`` or
``AssertionError``; these classes say which signal was unusable and why, so a
run reports "the answer's SDP has no m= line" instead of a traceback.
"""

from __future__ import annotations

from callprobe.errors import CallprobeError, ExitCode


class RtcError(CallprobeError):
    """A peer connection could not do what the call needed."""

    code = "RTC_ERROR"
    exit_code = ExitCode.EXPECTATION_FAILED


class InvalidSignal(RtcError):
    """An offer, answer or candidate received from the remote side is unusable.

    ``signal`` names the signal ("offer", "answer", "candidate"); the message
    says what is wrong with it. This is a *remote* fault: the peer or the
    gateway in between sent it.
    """

    code = "RTC_SIGNAL_INVALID"
    hint = "the remote client or the gateway relaying its signals sent a malformed message"

    def __init__(self, signal: str, problem: str) -> None:
        super().__init__(f"invalid {signal}: {problem}")
        self.signal, self.problem = signal, problem


class PeerStateError(RtcError):
    """A method was called in the wrong order (e.g. ``set_answer`` before ``make_offer``).

    This is a *local* fault: the code driving the peer broke the call flow.
    """

    code = "RTC_PEER_STATE"
    exit_code = ExitCode.INTERNAL

"""Media delivery counted from the received RTP stream, without decoding (docs/load.md#media-delivery).

Decoding every received frame is a large share of a call's CPU
(docs/aiortc-notes.md#per-call-costs). A load run only needs to know how many
frames arrived: ``CountingPeer`` lets aiortc receive and depacketise every
RTP packet as usual and counts a frame for each new RTP timestamp as the
packet enters the jitter buffer (a video frame spans several packets with
one timestamp; an audio packet is one frame), and hands nothing to the
decoder thread. Counting at the jitter buffer's door, not at its exit, keeps
the frames it holds back (audio keeps four) from reading as lost. Frames
sent are counted where the synthetic track hands them to aiortc
(``ClipTrack.frames_sent``), so "delivered" is frames received over frames
sent, per leg and kind.

The receiver's decoder queue is a private attribute of aiortc's
``RTCRtpReceiver``; when it is not where this module expects it, the peer
falls back to decoding and says so (``CountingPeer.measured``: ``"rtp"`` or
``"decoded"``).

``DeliveryLedger`` pairs the legs of each call so that, the moment a leg
stops counting, it reads how many frames the other legs had sent by then:
frames still in flight when a call ends are not counted as lost.
"""

from __future__ import annotations

import collections
import queue
from typing import Any

from aiortc.mediastreams import MediaStreamTrack

from callprobe.rtc.media import FrameCounter
from callprobe.rtc.peer import CallPeer

#: aiortc's names for a receiver's queue of encoded frames to decode and its jitter buffer
#: (name-mangled private attributes of ``RTCRtpReceiver``).
_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_DECODER_THREAD = "_RTCRtpReceiver__decoder_thread"

#: RTP timestamps remembered per stream, so a reordered packet of a counted frame is not counted again.
_RECENT = 256


class _Discard:
    """Stands in for a receiver's decoder queue: decodes nothing.

    aiortc's decoder thread still waits on it; only the end-of-stream marker
    (``None``) is passed on, which ends the thread and the remote track.
    """

    def __init__(self) -> None:
        self._inner: queue.Queue[Any] = queue.Queue()

    def put(self, item: Any, *args: Any, **kwargs: Any) -> None:
        if item is None:
            self._inner.put(None)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self._inner.get(*args, **kwargs)


class _CountingJitterBuffer:
    """Wraps a receiver's jitter buffer: one frame counted per new RTP timestamp that arrives."""

    def __init__(self, inner: Any, kind: str, counter: FrameCounter) -> None:
        self._inner = inner
        self._kind = kind
        self._counter = counter
        self._seen: set[int] = set()
        self._order: collections.deque[int] = collections.deque()

    def add(self, packet: Any) -> Any:
        timestamp = packet.timestamp
        if timestamp not in self._seen:  # called on the event loop, in _handle_rtp_packet
            self._seen.add(timestamp)
            self._order.append(timestamp)
            if len(self._order) > _RECENT:
                self._seen.discard(self._order.popleft())
            self._counter.count(self._kind)
        return self._inner.add(packet)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def count_instead_of_decoding(receiver: Any, kind: str, counter: FrameCounter) -> bool:
    """Count ``receiver``'s frames from RTP and decode none; False when aiortc's internals differ."""
    if not isinstance(getattr(receiver, _DECODER_QUEUE, None), queue.Queue) or getattr(receiver, _DECODER_THREAD,
                                                                                         None):
        return False
    jitter = getattr(receiver, _JITTER_BUFFER, None)
    if jitter is None or not callable(getattr(jitter, "add", None)):
        return False
    setattr(receiver, _JITTER_BUFFER, _CountingJitterBuffer(jitter, kind, counter))
    setattr(receiver, _DECODER_QUEUE, _Discard())
    return True


class DeliveryLedger:
    """The legs of the calls of one load call, and the frames each leg received from the others.

    ``deliveries`` holds ``(agent, kind, sent, received)``: frames the other
    legs of the same room had sent when ``agent``'s leg stopped counting, and
    the frames it had received by then.
    """

    def __init__(self) -> None:
        self._rooms: dict[str, list[CountingPeer]] = {}
        self.deliveries: list[tuple[str, str, int, int]] = []
        self.measured: set[str] = set()

    def join(self, room_id: str, peer: CountingPeer) -> None:
        self._rooms.setdefault(room_id, []).append(peer)

    def leave(self, room_id: str, peer: CountingPeer) -> None:
        """Settle ``peer``'s delivery: what it received against what the others sent."""
        others = [p for p in self._rooms.get(room_id, []) if p is not peer and p.started]
        if not others or not peer.started:
            return
        received = peer.frames
        for kind in sorted(set().union(*(p.frames_sent() for p in others))):
            sent = sum(p.frames_sent().get(kind, 0) for p in others)
            self.deliveries.append((peer.agent, kind, sent, int(received.get(kind, 0))))
        self.measured.add(peer.measured)


class CountingPeer(CallPeer):
    """A ``CallPeer`` that counts received frames from RTP instead of decoding them.

    Args:
        ledger: where the leg settles its delivery on close.
        room_id: the call this leg belongs to.
        **kwargs: as ``CallPeer``.
    """

    def __init__(self, *, ledger: DeliveryLedger, room_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ledger = ledger
        self._room = room_id
        self.measured = "rtp"
        ledger.join(room_id, self)

    @property
    def started(self) -> bool:
        """True once media was set up (a track was added)."""
        return bool(self._tracks)

    def frames_sent(self) -> dict[str, int]:
        return {track.kind: track.frames_sent for track in self._tracks}

    def _on_track(self, track: MediaStreamTrack) -> None:
        receiver = next((r for r in self._pc.getReceivers() if r.track is track), None)
        if receiver is None or not count_instead_of_decoding(receiver, track.kind, self._frames):
            self.measured = "decoded"
        super()._on_track(track)

    async def close(self) -> None:
        if self._close_task is None:
            self._ledger.leave(self._room, self)
        await super().close()

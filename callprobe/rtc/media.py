"""Synthetic media to send, and counting of the media received.

Sending: encoding is the CPU cost of a call (docs/aiortc-notes.md#encoding-cost), so each
kind is encoded *once per process* into a short clip that every track loops:
a 440 Hz Opus tone (48 kHz, 20 ms frames, 1 s) and a VP8 moving pattern
(320x240, 15 fps, 2 s, a keyframe each second). A :class:`ClipTrack` hands
aiortc ``av.Packet`` objects, which aiortc packetizes without re-encoding,
paced in real time with pts in the codec's clock (1/48000 for Opus, 1/90000
for VP8) so RTP timestamps, jitter and lip-sync figures stay meaningful.

Receiving: aiortc decodes received RTP into frames and queues them on the
remote track; unread frames pile up in memory (docs/aiortc-notes.md#drain-received-tracks). A
:class:`FrameCounter` drains every received track, counts decoded frames per
kind and reports the first frame of each kind.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

AUDIO_SAMPLE_RATE = 48000
AUDIO_FRAME_SAMPLES = 960            # 20 ms at 48 kHz, aiortc's Opus ptime
AUDIO_TONE_HZ = 440
AUDIO_CLIP_FRAMES = 50               # 1 s: a whole number of tone periods, so the loop is seamless
AUDIO_BITRATE = 32000

VIDEO_WIDTH = 320
VIDEO_HEIGHT = 240
VIDEO_FPS = 15
VIDEO_CLOCK_RATE = 90000             # RTP clock of every video codec (RFC 3551)
VIDEO_CLIP_FRAMES = 30               # 2 s
VIDEO_KEYFRAME_INTERVAL = 15         # a receiver that missed the start decodes within 1 s
VIDEO_BITRATE = 250000


@dataclass(frozen=True)
class EncodedClip:
    """Encoded frames of one kind, played in a loop by :class:`ClipTrack`."""

    kind: str                         # "audio" | "video"
    packets: tuple[bytes, ...]
    time_base: Fraction               # pts unit handed to aiortc
    ticks_per_frame: int              # pts step per packet
    frame_interval_s: float


@functools.cache
def tone_clip() -> EncodedClip:
    """A 440 Hz tone, Opus-encoded at 48 kHz stereo in 20 ms frames."""
    codec = av.CodecContext.create("libopus", "w")
    assert isinstance(codec, av.AudioCodecContext)
    codec.sample_rate = AUDIO_SAMPLE_RATE
    codec.layout = "stereo"
    codec.format = "s16"
    codec.bit_rate = AUDIO_BITRATE
    codec.time_base = Fraction(1, AUDIO_SAMPLE_RATE)
    total = AUDIO_FRAME_SAMPLES * AUDIO_CLIP_FRAMES
    t = np.arange(total) / AUDIO_SAMPLE_RATE
    mono = (0.25 * 32767 * np.sin(2 * math.pi * AUDIO_TONE_HZ * t)).astype(np.int16)
    stereo = np.repeat(mono, 2)      # packed s16: L R L R ...
    packets: list[bytes] = []
    for i in range(AUDIO_CLIP_FRAMES):
        chunk = stereo[i * 2 * AUDIO_FRAME_SAMPLES:(i + 1) * 2 * AUDIO_FRAME_SAMPLES]
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = AUDIO_SAMPLE_RATE
        frame.pts = i * AUDIO_FRAME_SAMPLES
        frame.time_base = Fraction(1, AUDIO_SAMPLE_RATE)
        packets.extend(bytes(p) for p in codec.encode(frame))
    packets.extend(bytes(p) for p in codec.encode(None))
    return EncodedClip("audio", tuple(packets), Fraction(1, AUDIO_SAMPLE_RATE),
                       AUDIO_FRAME_SAMPLES, AUDIO_FRAME_SAMPLES / AUDIO_SAMPLE_RATE)


def pattern_frame(index: int) -> np.ndarray:
    """Planar YUV 4:2:0 picture ``index`` of the moving test pattern.

    A scrolling checkerboard over a gradient, a bright block sliding across,
    and a hue drift: enough detail and motion for realistic VP8 sizes
    (about 250 kbit/s).
    """
    w, h = VIDEO_WIDTH, VIDEO_HEIGHT
    x = np.arange(w)[None, :]
    y = np.arange(h)[:, None]
    luma = (((x + index * 6) // 8 + (y + index * 3) // 8) % 2 * 120
            + x * 100 // w + y * 30 // h).astype(np.uint8)
    left = (index * 10) % (w - 40)
    luma[100:140, left:left + 40] = 235
    u = np.tile(((np.arange(w // 2) + index * 4) % 256).astype(np.uint8), (h // 2, 1))
    v = np.full((h // 2, w // 2), 160, np.uint8)
    return np.concatenate([luma, u.reshape(-1, w), v.reshape(-1, w)])


@functools.cache
def pattern_clip() -> EncodedClip:
    """The moving pattern, VP8-encoded, keyframes at a fixed interval."""
    codec = av.CodecContext.create("libvpx", "w")
    assert isinstance(codec, av.VideoCodecContext)
    codec.width, codec.height = VIDEO_WIDTH, VIDEO_HEIGHT
    codec.pix_fmt = "yuv420p"
    codec.bit_rate = VIDEO_BITRATE
    codec.framerate = Fraction(VIDEO_FPS)
    codec.time_base = Fraction(1, VIDEO_FPS)
    codec.gop_size = VIDEO_KEYFRAME_INTERVAL
    # One packet per picture, at once: no look-ahead, no alternate reference frames.
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
                     "auto-alt-ref": "0"}
    # One thread: libvpx's worker threads made this 15x slower on a busy 2-core box.
    codec.thread_count = 1
    packets: list[bytes] = []
    for i in range(VIDEO_CLIP_FRAMES):
        frame = av.VideoFrame.from_ndarray(pattern_frame(i), format="yuv420p")
        frame.pts = i
        frame.time_base = Fraction(1, VIDEO_FPS)
        if i % VIDEO_KEYFRAME_INTERVAL == 0:
            frame.pict_type = av.video.frame.PictureType.I
        packets.extend(bytes(p) for p in codec.encode(frame))
    packets.extend(bytes(p) for p in codec.encode(None))
    return EncodedClip("video", tuple(packets), Fraction(1, VIDEO_CLOCK_RATE),
                       VIDEO_CLOCK_RATE // VIDEO_FPS, 1 / VIDEO_FPS)


_CLIPS: dict[str, Callable[[], EncodedClip]] = {"audio": tone_clip, "video": pattern_clip}


def encode_clip(kind: str) -> EncodedClip:
    """The clip for ``kind``, encoded now the first time (blocking: call it in a worker thread)."""
    return _CLIPS[kind]()


async def load_clip(kind: str) -> EncodedClip:
    """The clip for ``kind``, encoded in a worker thread the first time."""
    return await asyncio.to_thread(encode_clip, kind)


class ClipTrack(MediaStreamTrack):
    """A live track looping an :class:`EncodedClip` in real time.

    ``recv`` returns the next encoded packet when it is due: the first at
    once, packet ``n`` at ``start + n * interval``. pts grow without end
    across loops, as a camera's would. After a stall the track catches up
    without skipping, since skipped VP8 inter frames would break decoding
    until the next keyframe.
    """

    def __init__(self, clip: EncodedClip) -> None:
        super().__init__()
        self.kind = clip.kind
        self._clip = clip
        self._index = 0
        self._start: float | None = None

    @property
    def frames_sent(self) -> int:
        """Encoded frames handed to aiortc so far (each one is sent)."""
        return self._index

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            delay = self._start + self._index * self._clip.frame_interval_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        clip = self._clip
        packet = av.Packet(clip.packets[self._index % len(clip.packets)])
        packet.pts = self._index * clip.ticks_per_frame
        packet.time_base = clip.time_base
        self._index += 1
        return packet


class FrameCounter:
    """Drains received tracks and counts their decoded frames per kind.

    ``on_first(kind)`` is called once per kind, on its first decoded frame.
    """

    def __init__(self, on_first: Callable[[str], None] | None = None) -> None:
        self.frames: dict[str, int] = {"audio": 0, "video": 0}
        self._first: dict[str, asyncio.Event] = {}
        self._on_first = on_first

    def _event(self, kind: str) -> asyncio.Event:
        return self._first.setdefault(kind, asyncio.Event())

    async def drain(self, track: MediaStreamTrack) -> None:
        """Read ``track`` until it ends, counting frames."""
        kind = track.kind
        self.frames.setdefault(kind, 0)
        first = self._event(kind)
        try:
            while True:
                await track.recv()
                self.frames[kind] += 1
                if not first.is_set():
                    first.set()
                    if self._on_first is not None:
                        self._on_first(kind)
        except MediaStreamError:
            return

    def count(self, kind: str) -> None:
        """Count one frame of ``kind`` received some other way (``rtc.rtp_count``: depacketised, not decoded)."""
        self.frames[kind] = self.frames.get(kind, 0) + 1
        first = self._event(kind)
        if not first.is_set():
            first.set()
            if self._on_first is not None:
                self._on_first(kind)

    def has_first(self, kind: str) -> bool:
        return self._event(kind).is_set()

    async def wait_first(self, kinds: Iterable[str]) -> None:
        """Return once a frame of every kind in ``kinds`` was decoded (no deadline here)."""
        for kind in kinds:
            await self._event(kind).wait()

"""Pre-encoded clips, their tracks' pts, and frame counting."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from typing import Any

import av
import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from callprobe.rtc import media


def decode(clip: media.EncodedClip, codec_name: str) -> list[Any]:
    codec: Any = av.CodecContext.create(codec_name, "r")
    frames: list[Any] = []
    for data in clip.packets:
        frames.extend(codec.decode(av.Packet(data)))
    return frames


def test_tone_clip_is_one_second_of_20ms_opus_frames() -> None:
    clip = media.tone_clip()
    assert clip.kind == "audio"
    assert clip.time_base == Fraction(1, 48000) and clip.ticks_per_frame == 960
    assert 50 <= len(clip.packets) <= 52       # plus the encoder's flush
    frames = decode(clip, "libopus")
    assert frames and all(f.samples == 960 and f.sample_rate == 48000 for f in frames)


def test_pattern_clip_is_decodable_vp8_with_keyframes_each_second() -> None:
    clip = media.pattern_clip()
    assert clip.kind == "video" and len(clip.packets) == media.VIDEO_CLIP_FRAMES
    assert clip.time_base == Fraction(1, 90000) and clip.ticks_per_frame == 6000
    frames = decode(clip, "libvpx")
    assert len(frames) == media.VIDEO_CLIP_FRAMES
    assert (frames[0].width, frames[0].height) == (320, 240)
    # VP8 frame tag, RFC 6386 section 9.1: bit 0 clear marks a key frame
    assert [i for i, data in enumerate(clip.packets) if data[0] & 1 == 0] == [0, 15]
    late = media.EncodedClip("video", clip.packets[15:], clip.time_base, 6000, 1 / 15)
    assert len(decode(late, "libvpx")) == 15    # a receiver joining at the keyframe decodes
    # the pattern moves: consecutive pictures differ
    assert frames[0].to_ndarray().tobytes() != frames[1].to_ndarray().tobytes()


async def test_clip_track_pts_grow_across_loops_and_stop_ends_it() -> None:
    clip = media.EncodedClip("audio", (b"\x01", b"\x02"), Fraction(1, 48000), 960, 0.001)
    track = media.ClipTrack(clip)
    packets = [await track.recv() for _ in range(5)]
    assert [p.pts for p in packets] == [0, 960, 1920, 2880, 3840]
    assert [bytes(p) for p in packets] == [b"\x01", b"\x02", b"\x01", b"\x02", b"\x01"]
    assert all(p.time_base == Fraction(1, 48000) for p in packets)
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()


class ListTrack(MediaStreamTrack):
    """A finite track: yields n frames then ends, like a remote track on close."""

    def __init__(self, kind: str, n: int) -> None:
        super().__init__()
        self.kind = kind
        self._left = n

    async def recv(self) -> av.AudioFrame:
        if self._left == 0:
            raise MediaStreamError
        self._left -= 1
        return av.AudioFrame(format="s16", layout="mono", samples=960)


async def test_frame_counter_counts_and_reports_the_first_frame_once() -> None:
    firsts: list[str] = []
    counter = media.FrameCounter(on_first=firsts.append)
    await asyncio.gather(counter.drain(ListTrack("audio", 3)), counter.drain(ListTrack("video", 2)))
    assert counter.frames == {"audio": 3, "video": 2}
    assert sorted(firsts) == ["audio", "video"]
    await asyncio.wait_for(counter.wait_first(["audio", "video"]), 1.0)
    assert not counter.has_first("data")

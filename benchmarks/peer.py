"""Setup time and CPU cost of CallPeer calls on loopback.

Two parts, both with caller and callee in this one process:

1. Setup, one call at a time (median of N runs, default 5), per mode
   (audio, video, and relay-only audio through coturn when ``turnserver`` is
   installed): time from ``make_offer`` to both peers "connected", and to the
   later of the two peers' first decoded audio and video frames.
2. CPU: K concurrent calls (default 4) held for D seconds (default 10); CPU
   seconds of this process over the steady window, per call, as % of one core,
   and the share of expected frames received.

Usage: python benchmarks/peer.py [N] [K] [D]
"""

from __future__ import annotations

import asyncio
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callprobe.rtc.ice_config import IceConfig, IceServer
from callprobe.rtc.media import VIDEO_FPS
from callprobe.rtc.peer import CallPeer
from callprobe.settings import ClientSettings
from callprobe.timeline.events import Kind, Timeline, select

LOOPBACK = IceConfig(host_addresses=("127.0.0.1",))
SETTINGS = ClientSettings(ice_connect_timeout_s=15.0, media_timeout_s=15.0)


async def call(media: str, ice: IceConfig, timeline: Timeline, tag: str) -> tuple[CallPeer, CallPeer]:
    caller = CallPeer(agent=f"{tag}a", timeline=timeline, media=media,  # type: ignore[arg-type]
                      ice=ice, settings=SETTINGS)
    callee = CallPeer(agent=f"{tag}b", timeline=timeline, media=media,  # type: ignore[arg-type]
                      ice=ice, settings=SETTINGS)
    offer, offer_candidates = await caller.make_offer()
    answer, answer_candidates = await callee.accept_offer(offer)
    await caller.set_answer(answer)
    for c in offer_candidates:
        await callee.add_candidate(c)
    for c in answer_candidates:
        await caller.add_candidate(c)
    return caller, callee


async def setup_once(media: str, ice: IceConfig) -> dict[str, float]:
    timeline = Timeline()
    start = timeline.now_ms()
    caller, callee = await call(media, ice, timeline, "")
    try:
        ok = await asyncio.gather(caller.wait_connected(), callee.wait_connected())
        assert all(ok), "call did not connect"
        ok = await asyncio.gather(caller.wait_media(), callee.wait_media())
        assert all(ok), "media did not flow"
    finally:
        await caller.close()
        await callee.close()
    result = {}
    connected = [e.t_ms for e in select(timeline, Kind.PC_STATE, state="connected")]
    result["connected_ms"] = max(connected) - start
    for kind in ("audio", "video") if media == "video" else ("audio",):
        firsts = [e.t_ms for e in select(timeline, Kind.MEDIA_FIRST_FRAME, media=kind)]
        result[f"first_{kind}_ms"] = max(firsts) - start
    return result


async def cpu_per_call(media: str, calls: int, seconds: float) -> dict[str, float]:
    timeline = Timeline()
    peers = [p for i in range(calls) for p in await call(media, LOOPBACK, timeline, f"c{i}")]
    try:
        assert all(await asyncio.gather(*(p.wait_connected() for p in peers)))
        assert all(await asyncio.gather(*(p.wait_media() for p in peers)))
        await asyncio.sleep(1.0)  # settle
        frames0 = [p.frames for p in peers]
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, wall1 = time.process_time(), time.monotonic()
        frames1 = [p.frames for p in peers]
    finally:
        await asyncio.gather(*(p.close() for p in peers))
    wall = wall1 - wall0
    audio = sum(f1["audio"] - f0["audio"] for f0, f1 in zip(frames0, frames1, strict=False))
    expected_audio = len(peers) * wall * 50
    out = {"cpu_pct_per_call": 100.0 * (cpu1 - cpu0) / wall / calls,
           "audio_received_pct": 100.0 * audio / expected_audio}
    if media == "video":
        video = sum(f1["video"] - f0["video"] for f0, f1 in zip(frames0, frames1, strict=False))
        out["video_received_pct"] = 100.0 * video / (len(peers) * wall * VIDEO_FPS)
    return out


def median_row(rows: list[dict[str, float]]) -> str:
    keys = rows[0].keys()
    return ", ".join(f"{k} {statistics.median(r[k] for r in rows):.0f}" for k in keys)


async def main(runs: int, calls: int, seconds: float) -> None:
    # Warm up: clip encoding and first-use costs are paid once per process.
    await setup_once("video", LOOPBACK)
    modes: list[tuple[str, str, IceConfig]] = [("audio", "audio", LOOPBACK), ("video", "video", LOOPBACK)]
    turn = None
    if shutil.which("turnserver"):
        from tests.rtc.coturn import Coturn
        turn = Coturn(Path(tempfile.mkdtemp(prefix="callprobe-bench-")))
        turn.start()
        relay = IceConfig(servers=(IceServer((turn.url,), turn.user, turn.password),),
                          host_addresses=("127.0.0.1",), relay_only=True)
        modes.append(("relay-only audio (coturn)", "audio", relay))
    try:
        print(f"setup, one call at a time, median of {runs} (ms since make_offer):")
        for label, media, ice in modes:
            rows = [await setup_once(media, ice) for _ in range(runs)]
            print(f"  {label:28s} {median_row(rows)}")
    finally:
        if turn is not None:
            turn.stop()
    print(f"CPU, {calls} concurrent calls (caller+callee in this process) for {seconds:g} s:")
    for media in ("audio", "video"):
        row = await cpu_per_call(media, calls, seconds)
        print(f"  {media:28s} " + ", ".join(f"{k} {v:.1f}" for k, v in row.items()))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max RSS of this process: {rss_mb:.0f} MB")


if __name__ == "__main__":
    args = [float(a) for a in sys.argv[1:]]
    asyncio.run(main(int(args[0]) if args else 5, int(args[1]) if len(args) > 1 else 4,
                     args[2] if len(args) > 2 else 10.0))

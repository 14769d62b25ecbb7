"""Call-room service: time to ring (poll-bound) and join-notice latency in both join orders.

The embedded call-room server runs in this process; the agents are callprobe's
own rooms drivers (``callprobe.backends.rooms``), no media.

Time to ring: the caller creates a call ("call by username"); the callee's
driver polls the incoming list every ``--poll`` seconds, and the ring is the
first poll that lists the call. It is measured from the invite to the ring
and reported against the poll interval: a ring can only come at the next
poll, so it is spread over one interval (its mean about half of it) plus
one request.

Join-notice latency: per call, one party enters the room, then the other;
measured to the ``join`` notice reaching the party already there from the
newcomer's room socket opening (its upgrade done: the figure a report's
``room.join_notice.latency_ms`` gives) and from the newcomer's request (the
handshake included), and, for the newcomer, to its own ``connection``.
``--calls`` calls in each order.

    python benchmarks/rooms.py [--ring-calls 50] [--poll 0.5 0.1] [--calls 200]

Goals: a ring within one poll interval of the call plus a request (p99 under
interval + 50 ms); join notices p99 under 10 ms on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import random
import statistics
import time
from typing import Any

from callprobe.backends.base import AgentIdentity
from callprobe.backends.rooms.config import RoomsOptions
from callprobe.backends.rooms.driver import RoomsDriver
from callprobe.backends.rooms.server import LOGGER_NAME, EmbeddedRoomServer
from callprobe.settings import ClientSettings, RoomServerSettings
from callprobe.timeline.events import Event, InviteSent, JoinNotice, Ringing, RoomJoined, WsConnecting, WsOpen
from callprobe.timeline.recorder import Timeline

WAIT_S = 5.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def summary(values: list[float]) -> str:
    return (f"n={len(values)} min {min(values):.1f}  p50 {pct(values, 50):.1f}  mean {statistics.fmean(values):.1f}"
            f"  p99 {pct(values, 99):.1f}  max {max(values):.1f} ms")


async def wait_for(timeline: Timeline, cls: type[Event], agent: str, room: str, since: int,
                   **match: Any) -> Event:
    """The first such event recorded at index ``since`` or later."""
    loop = asyncio.get_running_loop()
    end = loop.time() + WAIT_S
    seen = since
    while loop.time() < end:
        events = timeline.events
        for e in events[seen:]:
            if (isinstance(e, cls) and e.agent == agent and e.room_id == room
                    and all(getattr(e, k) == v for k, v in match.items())):
                return e
        seen = max(since, len(events) - 1)
        await asyncio.sleep(0.0005)
    raise TimeoutError(f"no {cls.__name__} for {agent} in room {room}")


async def pair(server: EmbeddedRoomServer, poll_s: float, timeline: Timeline, tag: str,
               connect_callee: bool) -> tuple[RoomsDriver, RoomsDriver]:
    names = RoomsOptions(poll_interval_s=poll_s)
    settings = ClientSettings()

    def driver(name: str) -> RoomsDriver:
        return RoomsDriver(AgentIdentity(name, name, username=name), timeline, settings, base_url=server.url,
                           options=names, register=True)

    caller, callee = driver(f"caller{tag}"), driver(f"callee{tag}")
    await caller.login()
    await (callee.connect() if connect_callee else callee.login())
    return caller, callee


async def time_to_ring(server: EmbeddedRoomServer, calls: int, poll_s: float) -> list[float]:
    timeline = Timeline()
    caller, callee = await pair(server, poll_s, timeline, f"r{int(poll_s * 1000)}", connect_callee=True)
    rings: list[float] = []
    rng = random.Random(7)
    try:
        for _ in range(calls):
            mark = len(timeline)
            room = (await caller.invite([callee.identity], "audio", 60)).room_id
            invite = next(e for e in timeline.events[mark:] if isinstance(e, InviteSent))
            ring = await wait_for(timeline, Ringing, callee.identity.name, room, mark)
            rings.append(ring.t_ms - invite.t_ms)
            await caller.cancel(room)
            await asyncio.sleep(rng.uniform(0.0, poll_s))  # the next call at any phase of the poll clock
    finally:
        await caller.close()
        await callee.close()
    return rings


async def join_latency(server: EmbeddedRoomServer, calls: int,
                       order: str) -> tuple[list[float], list[float], list[float]]:
    timeline = Timeline()
    caller, callee = await pair(server, 60.0, timeline, order[:4], connect_callee=False)
    first, second = (caller, callee) if order == "caller-first" else (callee, caller)
    joins: list[float] = []
    asked: list[float] = []
    connections: list[float] = []
    try:
        for _ in range(calls):
            room = (await caller.invite([callee.identity], "audio", 60)).room_id
            await first.join_room(room)
            mark = len(timeline)
            await wait_for(timeline, RoomJoined, first.identity.name, room, 0)
            await second.join_room(room)
            asking = await wait_for(timeline, WsConnecting, second.identity.name, room, mark)
            opened = await wait_for(timeline, WsOpen, second.identity.name, room, mark)
            told = await wait_for(timeline, JoinNotice, first.identity.name, room, mark, notice="join")
            entered = await wait_for(timeline, RoomJoined, second.identity.name, room, mark)
            joins.append(max(0.0, told.t_ms - opened.t_ms))
            asked.append(told.t_ms - asking.t_ms)
            connections.append(max(0.0, entered.t_ms - opened.t_ms))
            await caller.cancel(room)
            await first.leave_room(room)
            await second.leave_room(room)
    finally:
        await caller.close()
        await callee.close()
    return joins, asked, connections


async def main(args: argparse.Namespace) -> None:
    logging.getLogger(LOGGER_NAME).setLevel(logging.ERROR)
    settings = dataclasses.replace(RoomServerSettings(), port=0, password_iterations=1_000,
                                   frame_rate_per_s=1e6, frame_burst=1_000_000)
    async with EmbeddedRoomServer(settings) as server:
        print(f"call-room server {server.url}")
        for poll_s in args.poll:
            started = time.monotonic()
            rings = await time_to_ring(server, args.ring_calls, poll_s)
            interval = poll_s * 1000.0
            within = sum(r <= interval + 50.0 for r in rings)
            print(f"time to ring, poll {interval:.0f} ms: {summary(rings)}; "
                  f"p50 {pct(rings, 50) / interval:.2f} and p99 {pct(rings, 99) / interval:.2f} of the interval; "
                  f"{within}/{len(rings)} within interval + 50 ms  ({time.monotonic() - started:.1f} s)")
        for order in ("caller-first", "callee-first"):
            started = time.monotonic()
            joins, asked, connections = await join_latency(server, args.calls, order)
            print(f"{order}: join to the first in, from the newcomer's upgrade  {summary(joins)}"
                  f"  ({time.monotonic() - started:.1f} s)")
            print(f"{order}: join to the first in, from the newcomer's request  {summary(asked)}")
            print(f"{order}: connection to the newcomer, from its upgrade       {summary(connections)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ring-calls", type=int, default=50, help="calls for time to ring, per poll interval")
    parser.add_argument("--poll", type=float, nargs="+", default=[0.5, 0.1], help="poll intervals (s)")
    parser.add_argument("--calls", type=int, default=200, help="calls per join order")
    asyncio.run(main(parser.parse_args()))

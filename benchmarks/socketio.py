"""The Socket.IO chat backend: call notices through callprobe's driver, and push latency under load.

The reference server runs in a child process (its own core); the clients run here.

Part 1 places N calls (default 200) one after another with callprobe's own
socketio driver, exactly as `callprobe run` does (REST login, python-socketio
client, sans-I/O core, timeline), and reports from the timeline the figures a
call report gives: time to ring (invite sent until the callee's first ring,
by either path) and the accept notice's latency (the callee's accept sent
until the caller's ``call_response``), p50/p99.

Part 2 connects U users (default 500) with light clients that speak the
Engine.IO/Socket.IO frames by hand over ``websockets`` (as ``gateway.py``
does for KKIM: the load side must not be the bottleneck) and sends text
messages at a fixed rate (default 1,000/s) round the ring of users; push latency is the
time from a sender's emit until the recipient's ``message`` event (one clock:
both ends live in this process). The server pushes every message twice (to
the recipient and back to the sender's own room), as the protocol says.

    python benchmarks/socketio.py [--calls 200] [--users 500] [--rate 1000] [--duration 10]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

# Run as a script, this file's folder comes first on sys.path, and its name would shadow the
# python-socketio package: leave the folder out (spawned children inherit the path).
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

SETUP_TIMEOUT_S = 180.0
CONNECT_CONCURRENCY = 50
DRAIN_S = 3.0
WAIT_S = 5.0
SETTLED_MS = 20.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ----------------------------------------------------------------- server side (child process)


def _serve(conn: Any, max_connections: int) -> None:
    import logging

    from callprobe.backends.socketio.server import EmbeddedChatServer
    from callprobe.settings import ChatServerSettings

    logging.getLogger("callprobe.server").setLevel(logging.WARNING)

    async def run() -> None:
        # cheap password hashing: the benchmark registers hundreds of accounts; nothing else changes
        server = EmbeddedChatServer(ChatServerSettings(port=0, password_iterations=1000,
                                                       max_connections=max_connections,
                                                       event_rate_per_s=1000.0, event_burst=1000))
        await server.start()
        conn.send(server.url)
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, conn.recv) != "stop":  # "cpu": report the CPU time used so far
            conn.send(_cpu_s())
        conn.send({"cpu_s": _cpu_s()})
        await server.stop()

    asyncio.run(run())


# ----------------------------------------------------------------- part 1: calls through the driver


async def calls(url: str, n: int) -> dict[str, Any]:
    from callprobe.analysis.metrics import derive_calls
    from callprobe.backends.base import AgentIdentity, DriverNotice
    from callprobe.backends.socketio.driver import SocketioDriver
    from callprobe.settings import ClientSettings
    from callprobe.timeline.recorder import Timeline

    timeline = Timeline()
    settings = ClientSettings()
    alice = SocketioDriver(AgentIdentity("alice", "bench_alice"), timeline, settings, base_url=url, register=True)
    bob = SocketioDriver(AgentIdentity("bob", "bench_bob"), timeline, settings, base_url=url, register=True)

    async def notice(driver: SocketioDriver, kind: str) -> DriverNotice:
        async with asyncio.timeout(WAIT_S):
            while True:
                got = await driver.notices.get()
                if got.kind == kind:
                    return got

    await alice.connect()
    await bob.connect()
    started = time.perf_counter()
    for _ in range(n):
        call = await alice.invite([bob.identity], "audio", 30)
        await notice(bob, "ringing")
        await bob.accept(call.room_id)
        await notice(alice, "answered")
        await alice.hangup(call.room_id)
        await notice(bob, "hung_up")
    wall = time.perf_counter() - started
    await alice.close()
    await bob.close()
    figures = derive_calls(timeline.events)
    ring = [c.time_to_ring_ms for c in figures if c.time_to_ring_ms is not None]
    accept = [c.join_notice.latency_ms for c in figures if c.join_notice.latency_ms is not None]
    paths = [c.invitees[0].rang_via for c in figures if c.invitees]
    return {"calls": len(figures), "ring_ms": ring, "accept_ms": accept, "wall_s": wall,
            "events": len(timeline.events), "first_paths": {p: paths.count(p) for p in set(paths)}}


# ----------------------------------------------------------------- part 2: push latency under load


async def pushes(url: str, users: int, rate: float, duration: float,
                 server_cpu: Callable[[], Awaitable[float]]) -> dict[str, Any]:
    import json

    import aiohttp
    from websockets.asyncio.client import connect

    names = [f"bench{i:04d}" for i in range(users)]
    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)
    async with aiohttp.ClientSession() as http:
        async def account(name: str) -> tuple[int, str]:
            async with sem:
                body = {"username": name, "password": "bench-pw"}
                async with http.post(url + "/api/v1/auth/register", json=body) as r:
                    assert r.status in (201, 409), await r.text()
                async with http.post(url + "/api/v1/auth/login", json=body) as r:
                    data = await r.json()
                    return int(data["user"]["id"]), str(data["access_token"])

        t0 = time.perf_counter()
        accounts = await asyncio.gather(*(account(n) for n in names))
        login_s = time.perf_counter() - t0

    latencies: list[float] = []
    state = {"delivered": 0, "echoes": 0}
    sockets: list[Any] = []
    readers: set[asyncio.Task[None]] = set()
    ws_url = url.replace("http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket"

    async def reader(uid: int, ws: Any) -> None:
        # the protocol's frames by hand (Engine.IO 4, Socket.IO 5): the load side must stay light
        async for frame in ws:
            if frame == "2":
                await ws.send("3")  # Engine.IO pong
            elif isinstance(frame, str) and frame.startswith('42["message"'):
                now = time.perf_counter_ns()
                row = json.loads(frame[2:])[1]
                if row.get("receiver_id") != uid:
                    state["echoes"] += 1
                    continue
                state["delivered"] += 1
                latencies.append((now - int(row["message"])) / 1e6)

    async def open_socket(uid: int, token: str) -> Any:
        async with sem:
            ws = await connect(ws_url, compression=None, ping_interval=None, max_size=None)
            opened = await ws.recv()
            assert str(opened).startswith("0{"), opened
            await ws.send("40" + json.dumps({"token": token}))
            while True:  # user_status of earlier sockets may come first
                got = str(await ws.recv())
                if got.startswith("40"):
                    break
                assert not got.startswith("44"), got  # connect_error
            readers.add(asyncio.create_task(reader(uid, ws)))
            return ws

    t1 = time.perf_counter()
    sockets = list(await asyncio.gather(*(open_socket(uid, tok) for uid, tok in accounts)))
    connect_s = time.perf_counter() - t1
    ids = [uid for uid, _ in accounts]

    async def send(sender: int) -> None:
        body = {"target_user_id": ids[(sender + 1) % users], "message": str(time.perf_counter_ns())}
        await sockets[sender].send("42" + json.dumps(["send_message", body]))

    # every connect broadcasts user_status to every other socket (U*(U-1)/2 pushes): wait until that
    # backlog has drained, i.e. a probe message crosses in under SETTLED_MS, before measuring
    t2 = time.perf_counter()
    while time.perf_counter() - t2 < SETUP_TIMEOUT_S:
        before = len(latencies)
        await send(0)
        async with asyncio.timeout(SETUP_TIMEOUT_S):
            while len(latencies) == before:
                await asyncio.sleep(0.01)
        if latencies[-1] < SETTLED_MS:
            break
        await asyncio.sleep(0.2)
    settle_s = time.perf_counter() - t2
    latencies.clear()
    state["delivered"] = state["echoes"] = 0
    total = int(rate * duration)
    interval = 1.0 / rate
    cpu_server, cpu_clients = await server_cpu(), _cpu_s()
    start = time.perf_counter()
    for k in range(total):
        due = start + k * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(k % users)
    send_s = time.perf_counter() - start
    deadline = time.perf_counter() + DRAIN_S
    while state["delivered"] < total and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    cpu_server, cpu_clients = await server_cpu() - cpu_server, _cpu_s() - cpu_clients
    for ws in sockets:
        await ws.close()
    for task in readers:
        task.cancel()
    return {"login_s": login_s, "connect_s": connect_s, "settle_s": settle_s, "sent": total, "send_s": send_s,
            "delivered": state["delivered"], "echoes": state["echoes"], "latencies_ms": latencies,
            "server_cpu_s": cpu_server, "clients_cpu_s": cpu_clients}


# ----------------------------------------------------------------- main


async def _main(args: argparse.Namespace) -> int:
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(there, args.users + 50), daemon=True)
    server.start()
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, here.poll, SETUP_TIMEOUT_S):
        server.kill()
        print("the server did not start", file=sys.stderr)
        return 1
    url = here.recv()
    cpu0 = _cpu_s()
    try:
        if args.calls:
            c = await calls(url, args.calls)
            ring, accept = c["ring_ms"], c["accept_ms"]
            print(f"calls through the socketio driver: {c['calls']} in {c['wall_s']:.1f} s "
                  f"({c['events']} timeline events); the first ring came by {c['first_paths']}")
            print(f"time to ring ms:        p50 {_pct(ring, 0.5):.2f}  p99 {_pct(ring, 0.99):.2f}  "
                  f"max {max(ring):.2f}  mean {statistics.fmean(ring):.2f}")
            print(f"accept notice ms:       p50 {_pct(accept, 0.5):.2f}  p99 {_pct(accept, 0.99):.2f}  "
                  f"max {max(accept):.2f}  mean {statistics.fmean(accept):.2f}")
        if args.users:
            async def server_cpu() -> float:
                here.send("cpu")
                return float(await loop.run_in_executor(None, here.recv))

            p = await pushes(url, args.users, args.rate, args.duration, server_cpu)
            lat = p["latencies_ms"]
            print(f"users: {args.users} logged in in {p['login_s']:.1f} s, connected in {p['connect_s']:.1f} s, "
                  f"presence broadcasts drained after {p['settle_s']:.1f} s more; cpus={os.cpu_count()}")
            print(f"fixed rate: offered {p['sent'] / p['send_s']:.0f} msg/s for {p['send_s']:.1f} s; "
                  f"delivered {p['delivered']}/{p['sent']} (and {p['echoes']} sender echoes)")
            if lat:
                print(f"push latency ms:        p50 {_pct(lat, 0.5):.2f}  p90 {_pct(lat, 0.9):.2f}  "
                      f"p99 {_pct(lat, 0.99):.2f}  max {max(lat):.2f}  mean {statistics.fmean(lat):.2f}")
            per_server = p["server_cpu_s"] / p["sent"] * 1e6
            per_clients = p["clients_cpu_s"] / p["sent"] * 1e6
            print(f"cpu per message while sending: server {per_server:.0f} us (store, 2 pushes), clients "
                  f"{per_clients:.0f} us (emit, 2 receipts): one free core carries about "
                  f"{1e6 / per_server:.0f} msg/s on the server side")
    finally:
        here.send("stop")
        server_cpu = here.recv()["cpu_s"] if await loop.run_in_executor(None, here.poll, 10.0) else float("nan")
        server.join(10)
    print(f"cpu: server {server_cpu:.1f} s, clients {_cpu_s() - cpu0:.1f} s "
          f"(load average now {os.getloadavg()[0]:.1f})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls placed through the driver (0 skips)")
    parser.add_argument("--users", type=int, default=500, help="connected users of the push test (0 skips)")
    parser.add_argument("--rate", type=float, default=1000.0, help="messages per second in the push test")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of the push test")
    args = parser.parse_args()
    if args.users == 1 or args.rate <= 0:
        parser.error("--users must be 0 or at least 2, and --rate positive")
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())

"""Gateway throughput and push latency: N connected users exchanging text messages.

The gateway runs in this process; the load clients run in a child process so
each has its own core (``--pin`` pins them to cpus 0 and 1).
Phase 1 sends at a fixed rate and measures push latency from the moment a
sender hands a message to its socket until the recipient has decoded the 2001
push (one clock: both ends live in the load process). Phase 2 saturates: every
sender keeps one message in flight and the delivered rate is reported.

    python benchmarks/gateway.py [--users 500] [--rate 1000] [--duration 10] [--saturate 5] [--gzip]

Goal: push p99 < 5 ms at 1,000 messages/s on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from typing import Any

CONNECT_CONCURRENCY = 50
SETUP_TIMEOUT_S = 120.0
DRAIN_S = 2.0
IDLE_S = 2.0


def _pin(cpu: int, enabled: bool) -> None:
    if enabled and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {cpu})


# ----------------------------------------------------------------- load side


async def _load(ws_url: str, api_url: str, args: argparse.Namespace, marks: Any) -> dict[str, Any]:
    import aiohttp
    from websockets.asyncio.client import connect

    from callprobe.backends.kkim.protocol._pb.openim import sdkws_pb2
    from callprobe.backends.kkim.protocol.envelope import Request, encode_request, pack, unpack

    users = [f"u{i:04d}" for i in range(args.users)]
    async with aiohttp.ClientSession() as http:
        async with http.post(api_url + "/auth/get_admin_token", headers={"operationID": "bench"},
                             json={"secret": "openIM123", "userID": "imAdmin"}) as r:
            admin = (await r.json())["data"]["token"]
        sem = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def token(uid: str) -> str:
            async with sem, http.post(api_url + "/auth/get_user_token",
                                      headers={"operationID": "bench", "token": admin},
                                      json={"platformID": 5, "userID": uid}) as r:
                return str((await r.json())["data"]["token"])

        tokens = await asyncio.gather(*(token(u) for u in users))
    token_of = dict(zip(users, tokens, strict=True))  # sent in every request, as real clients do

    latencies: list[float] = []
    phase = {"name": "rate", "delivered": 0, "acked": 0, "errors": 0}
    inflight: dict[str, asyncio.Event] = {}
    conns: dict[str, Any] = {}
    readers: set[asyncio.Task[None]] = set()  # held, so the loop keeps every reader alive
    gz = args.gzip

    async def reader(uid: str, ws: Any) -> None:
        # plain json + base64 rather than the tolerant client decoder: the load side must stay light
        async for frame in ws:
            if isinstance(frame, str):
                continue
            now = time.perf_counter_ns()
            raw = unpack(frame, gz)
            if raw.startswith(b'{"reqIdentifier":1003,"msgIncr"') and b'"errCode":0,' in raw:
                phase["acked"] += 1  # a successful SendMsgResp: no need to decode it
                continue
            resp = json.loads(raw)
            ident = resp["reqIdentifier"]
            if ident == 1003:
                phase["acked"] += 1
                if resp["errCode"]:
                    phase["errors"] += 1
                continue
            if ident != 2001:
                continue
            push = sdkws_pb2.PushMessages()
            push.ParseFromString(base64.b64decode(resp["data"] or ""))
            for pulled in push.msgs.values():
                for msg in pulled.Msgs:
                    if msg.recvID != uid:
                        continue  # the sender's own sync copy
                    phase["delivered"] += 1
                    if phase["name"] == "rate":
                        latencies.append((now - int(msg.content)) / 1e6)
                    else:
                        done = inflight.get(msg.sendID)
                        if done is not None:
                            done.set()

    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def open_conn(uid: str, tok: str) -> None:
        async with sem:
            url = f"{ws_url}/?sendID={uid}&token={tok}&platformID=5&sdkType=js"
            if gz:
                url += "&compression=gzip"
            ws = await connect(url, compression=None, ping_interval=None, max_size=None)
            conns[uid] = ws
            readers.add(asyncio.create_task(reader(uid, ws)))

    t0 = time.perf_counter()
    await asyncio.gather(*(open_conn(u, t) for u, t in zip(users, tokens, strict=True)))
    setup_s = time.perf_counter() - t0
    if args.gc_freeze:
        gc.collect()
        gc.freeze()
    counter = 0

    async def send(sender: str, recipient: str) -> None:
        nonlocal counter
        counter += 1
        msg = sdkws_pb2.MsgData(sendID=sender, recvID=recipient, clientMsgID=f"b{counter}", sessionType=1,
                                msgFrom=100, contentType=101, status=1,
                                content=str(time.perf_counter_ns()).encode())
        req = Request(1003, sender, msg_incr=str(counter), token=token_of[sender], data=msg.SerializeToString())
        await conns[sender].send(pack(encode_request(req, "base64"), gz))

    # idle: connected, silent (what 500 idle connections cost the gateway)
    marks.send("idle-start")
    await asyncio.sleep(IDLE_S)
    marks.send("idle-end")

    # phase 1: fixed rate
    marks.send("rate-start")
    n = len(users)
    interval = 1.0 / args.rate
    total = int(args.rate * args.duration)
    start = time.perf_counter()
    for k in range(total):
        due = start + k * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sender = users[k % n]
        await send(sender, users[(k + 1) % n])
    sent_s = time.perf_counter() - start
    deadline = time.perf_counter() + DRAIN_S
    while phase["delivered"] < total and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    marks.send("rate-end")
    rate = {"sent": total, "delivered": phase["delivered"], "acked": phase["acked"], "errors": phase["errors"],
            "send_seconds": sent_s, "offered_per_s": total / sent_s}

    # phase 2: saturation, one message in flight per sender
    phase.update(name="saturate", delivered=0, acked=0, errors=0)
    stop_at = time.perf_counter() + args.saturate

    async def pump(i: int) -> None:
        sender, recipient = users[i], users[(i + 1) % n]
        while time.perf_counter() < stop_at:
            done = asyncio.Event()
            inflight[sender] = done
            await send(sender, recipient)
            try:
                await asyncio.wait_for(done.wait(), 5)
            except TimeoutError:
                phase["errors"] += 1

    t1 = time.perf_counter()
    await asyncio.gather(*(pump(i) for i in range(n)))
    sat_s = time.perf_counter() - t1
    saturate = {"delivered": phase["delivered"], "seconds": sat_s, "per_s": phase["delivered"] / sat_s,
                "errors": phase["errors"]}
    for ws in conns.values():
        await ws.close()
    return {"setup_s": setup_s, "latencies_ms": latencies, "rate": rate, "saturate": saturate}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load_main(ws_url: str, api_url: str, args: argparse.Namespace, out: Any) -> None:
    _pin(1, args.pin)
    try:
        result = asyncio.run(_load(ws_url, api_url, args, out))
        result["cpu_s"] = _cpu_s()
        out.send(result)
    except BaseException as exc:  # report, never hang the parent
        out.send({"error": f"{type(exc).__name__}: {exc}"})


# -------------------------------------------------------------- gateway side


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _main(args: argparse.Namespace) -> int:
    from callprobe.backends.kkim.server import EmbeddedGateway
    from callprobe.settings import GatewaySettings

    _pin(0, args.pin)
    cpu0, wall0 = _cpu_s(), time.perf_counter()
    gw = EmbeddedGateway(GatewaySettings(ws_port=0, api_port=0, read_deadline_s=3600))
    await gw.start()
    try:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_load_main, args=(gw.ws_url, gw.api_url, args, child), daemon=True)
        proc.start()
        if args.gc_freeze:
            gc.collect()
            gc.freeze()
        loop = asyncio.get_running_loop()
        budget = SETUP_TIMEOUT_S + args.duration + args.saturate + 3 * DRAIN_S
        cpu_marks: dict[str, float] = {}
        while True:
            ready = await loop.run_in_executor(None, parent.poll, budget)
            if not ready:
                proc.kill()
                print("load process gave no result in time", file=sys.stderr)
                return 1
            result = parent.recv()
            if not isinstance(result, str):
                break
            cpu_marks[result] = _cpu_s()  # phase boundaries: gateway CPU spent in phase 1
        cpu1, wall1 = _cpu_s(), time.perf_counter()
        proc.join(5)
    finally:
        await gw.stop()
    if "error" in result:
        print(f"load process failed: {result['error']}", file=sys.stderr)
        return 1
    lat = result["latencies_ms"]
    rate, sat = result["rate"], result["saturate"]
    print(f"users connected: {args.users} in {result['setup_s']:.2f} s; gzip={'on' if args.gzip else 'off'}; "
          f"cpus={os.cpu_count()}")
    print(f"fixed rate: offered {rate['offered_per_s']:.0f} msg/s for {rate['send_seconds']:.1f} s; "
          f"delivered {rate['delivered']}/{rate['sent']}, acked {rate['acked']}, errors {rate['errors']}")
    if lat:
        print(f"push latency ms: p50 {_pct(lat, 0.50):.2f}  p90 {_pct(lat, 0.90):.2f}  "
              f"p99 {_pct(lat, 0.99):.2f}  max {max(lat):.2f}  mean {statistics.fmean(lat):.2f}")
        verdict = "met" if _pct(lat, 0.99) < 5.0 else "NOT met"
        print(f"goal push p99 < 5 ms at {args.rate} msg/s: {verdict}")
    if "idle-start" in cpu_marks and "idle-end" in cpu_marks:
        idle = (cpu_marks["idle-end"] - cpu_marks["idle-start"]) / IDLE_S * 100
        print(f"gateway cpu with {args.users} idle connections: {idle:.1f}% of a core")
    if "rate-start" in cpu_marks and "rate-end" in cpu_marks:
        per_msg = (cpu_marks["rate-end"] - cpu_marks["rate-start"]) / rate["sent"] * 1e6
        print(f"gateway cpu per message at the fixed rate: {per_msg:.0f} us "
              f"(includes the 2 pushes and the reply; {per_msg * args.rate / 1e4:.0f}% of a core)")
    print(f"cpu: gateway {cpu1 - cpu0:.1f} s, load clients {result['cpu_s']:.1f} s, over {wall1 - wall0:.1f} s wall "
          f"(load average now {os.getloadavg()[0]:.1f})")
    print(f"saturation: {sat['per_s']:.0f} msg/s delivered ({sat['delivered']} in {sat['seconds']:.1f} s, "
          f"{sat['errors']} timeouts)")
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "latencies_ms"}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--rate", type=float, default=1000.0, help="messages per second in phase 1")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of phase 1")
    parser.add_argument("--saturate", type=float, default=5.0, help="seconds of phase 2 (0 skips it)")
    parser.add_argument("--gzip", action="store_true", help="compression=gzip on every connection")
    parser.add_argument("--json", action="store_true", help="also print the raw figures as JSON")
    parser.add_argument("--pin", action="store_true",
                        help="pin the gateway to cpu 0 and the clients to cpu 1 (on a shared machine this hurts: "
                             "another process on a pinned cpu preempts for whole time slices)")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="move start-up objects out of the cyclic GC's reach in both processes (gc.freeze)")
    args = parser.parse_args()
    if args.users < 2 or args.rate <= 0:
        parser.error("--users must be at least 2 and --rate positive")
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())

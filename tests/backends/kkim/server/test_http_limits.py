"""The auth API drops slow and idle clients and caps its connections; running out of descriptors is logged once.

Raw sockets throughout: a slowloris client trickles headers, a slow client
trickles a body, idle clients hold connections, and a flood meets a process
whose open-files limit is lowered. Settings are shrunk; assertions count
bytes, connections and log lines, never seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap

from callprobe.backends.kkim.server import EmbeddedGateway
from tests.backends.kkim.server.rawclient import WAIT_S, admin_token, until
from tests.conftest import GatewayFactory
from tests.paths import ROOT

#: pause between two trickled bytes or lines
TRICKLE_S = 0.05
#: how many a slow client is ready to trickle: far more than a deadline lets through
TRICKLE_MAX = 200
REQUEST = b"POST /auth/get_admin_token HTTP/1.1\r\nHost: gw\r\noperationID: x\r\n"
BODY = b'{"secret":"openIM123","userID":"imAdmin"}'


def api_address(gw: EmbeddedGateway) -> tuple[str, int]:
    host, port = gw.api_url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


async def closed_now(reader: asyncio.StreamReader) -> bytes | None:
    """What the server sent before closing, if it closed within a trickle pause; ``None`` if still open."""
    try:
        data = await asyncio.wait_for(reader.read(), TRICKLE_S)
    except TimeoutError:
        return None
    except ConnectionResetError:
        return b""
    return data


async def trickle(gw: EmbeddedGateway, head: bytes, pieces: list[bytes]) -> tuple[int, bytes | None]:
    """Send ``head``, then one piece per pause until the server closes: (pieces sent, what it answered)."""
    reader, writer = await asyncio.open_connection(*api_address(gw))
    try:
        writer.write(head)
        for sent, piece in enumerate(pieces):
            answer = await closed_now(reader)
            if answer is not None:
                return sent, answer
            writer.write(piece)
            try:
                await writer.drain()
            except ConnectionError:
                return sent, b""
        return len(pieces), None
    finally:
        writer.close()


async def test_slowloris_headers_are_cut_off_at_the_header_timeout(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(api_header_timeout_s=0.3, api_idle_timeout_s=60)
    sent, answer = await trickle(gw, REQUEST, [f"X-{i}: y\r\n".encode() for i in range(TRICKLE_MAX)])
    assert answer == b"" and sent < TRICKLE_MAX // 4  # closed long before the client was done
    assert gw.api_connections is not None and gw.api_connections.stats["header_timeouts"] == 1


async def test_a_connection_that_sends_nothing_is_closed(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(api_header_timeout_s=0.3, api_idle_timeout_s=60)
    sent, answer = await trickle(gw, b"", [b""] * TRICKLE_MAX)
    assert answer == b"" and sent < TRICKLE_MAX // 4


async def test_a_slow_body_is_answered_1001_and_closed(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(api_body_timeout_s=0.3)
    head = REQUEST + f"Content-Length: {TRICKLE_MAX}\r\n\r\n".encode()
    sent, answer = await trickle(gw, head, [b" "] * TRICKLE_MAX)
    assert answer is not None and sent < TRICKLE_MAX // 4
    assert answer.startswith(b"HTTP/1.1 200")
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["errCode"] == 1001 and "api_body_timeout_s" in body["errDlt"]


async def test_an_idle_kept_alive_connection_is_closed(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(api_idle_timeout_s=0.3, api_header_timeout_s=60)
    reader, writer = await asyncio.open_connection(*api_address(gw))
    try:
        writer.write(REQUEST + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
        assert head.startswith(b"HTTP/1.1 200") and b"Connection: close" not in head  # kept alive
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        assert json.loads(await reader.readexactly(length))["errCode"] == 0
        assert await asyncio.wait_for(reader.read(), WAIT_S) == b""  # then closed while idle
    finally:
        writer.close()


async def test_idle_connections_make_room_for_a_login(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(api_max_connections=4, api_header_timeout_s=60, api_idle_timeout_s=60)
    idle = [await asyncio.open_connection(*api_address(gw)) for _ in range(12)]
    try:
        guard = gw.api_connections
        assert guard is not None
        assert await until(lambda: guard.stats["evicted"] == 8)
        assert await admin_token(gw.api_url)  # the login gets in
        assert guard.stats["most_open"] == 4 and guard.stats["refused"] == 0
        assert len(guard.open) <= 4
    finally:
        for _, writer in idle:
            writer.close()


async def test_a_full_house_of_requests_refuses_the_next_connection(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(api_max_connections=4, api_body_timeout_s=60)
    guard = gw.api_connections
    assert guard is not None
    busy = []
    for _ in range(4):  # each request waits for a body it does not get yet
        reader, writer = await asyncio.open_connection(*api_address(gw))
        writer.write(REQUEST + f"Content-Length: {len(BODY)}\r\n\r\n".encode())
        busy.append((reader, writer))
    try:
        assert await until(lambda: sum(c.busy for c in guard.open) == 4)
        reader, writer = await asyncio.open_connection(*api_address(gw))
        refusal = await asyncio.wait_for(reader.read(), WAIT_S)
        writer.close()
        assert refusal.startswith(b"HTTP/1.1 503 Service Unavailable")
        assert json.loads(refusal.split(b"\r\n\r\n", 1)[1])["errCode"] == 1601
        assert guard.stats["refused"] == 1
        # a request in progress finishes; its connection is idle again and makes room
        reader, writer = busy[0]
        writer.write(BODY)
        assert b'"errCode":0' in await asyncio.wait_for(reader.readuntil(b"}}"), WAIT_S)
        assert await admin_token(gw.api_url)
    finally:
        for _, w in busy:
            w.close()


#: a gateway in a process with few descriptors; prints its URLs, runs until stdin closes
LOW_FD_GATEWAY = textwrap.dedent("""
    import asyncio, logging, resource, sys
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s:%(name)s:%(message)s")
    from callprobe.backends.kkim.server import EmbeddedGateway
    from callprobe.settings import GatewaySettings

    async def main():
        gw = EmbeddedGateway(GatewaySettings(ws_port=0, api_port=0, api_max_connections=None,
                                             api_header_timeout_s=60, handshake_timeout_s=60))
        await gw.start()
        print(gw.ws_url, gw.api_url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await gw.stop()

    asyncio.run(main())
""")


async def test_running_out_of_descriptors_is_logged_once_and_survived() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOW_FD_GATEWAY, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    flood: list[asyncio.StreamWriter] = []
    try:
        assert proc.stdout is not None and proc.stdin is not None
        ws_url, api_url = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode().split()
        for url in (api_url.removeprefix("http://"), ws_url.removeprefix("ws://")):
            host, port = url.rsplit(":", 1)
            for _ in range(150):  # far more than 64 descriptors
                flood.append((await asyncio.open_connection(host, int(port)))[1])
        await asyncio.sleep(1.0)  # the gateway works through the queue
        for writer in flood:
            writer.close()
        flood.clear()
        # descriptors are back: the gateway serves again
        assert await until(lambda: True)
        token = None
        for _ in range(50):
            try:
                token = await admin_token(api_url)
                break
            except (TimeoutError, AssertionError, OSError):
                await asyncio.sleep(0.1)
        assert token
        proc.stdin.close()
        _, err = await asyncio.wait_for(proc.communicate(), 15)
    finally:
        for writer in flood:
            writer.close()
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()
    lines = err.decode().splitlines()
    shortage = [line for line in lines if "out of file descriptors" in line]
    assert 1 <= len(shortage) <= 2, shortage  # one per listener and interval (10 s), not one per accept
    assert all(line.startswith("WARNING:callprobe.server.kkim:") for line in shortage)
    assert not [line for line in lines if "Traceback" in line or line.startswith("ERROR")]
    assert len(lines) < 60, lines[:80]

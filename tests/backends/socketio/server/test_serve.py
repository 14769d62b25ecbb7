"""``callprobe serve --backend socketio`` as a real subprocess: URL printed, traffic served, exit 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator

import pytest

from tests.backends.socketio.server.conftest import Chat

START_S = 15.0   # interpreter start and imports on a loaded 2-core machine
STOP_S = 10.0


class _Url:
    """What ``Chat`` needs of a server: its URL."""

    def __init__(self, url: str) -> None:
        self.url = url


@pytest.fixture
async def serve() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    procs: list[asyncio.subprocess.Process] = []
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def start(procs: list[asyncio.subprocess.Process], *args: str) -> tuple[str, list[str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callprobe", "serve", "--backend", "socketio", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    procs.append(proc)
    assert proc.stdout is not None
    banner: list[str] = []
    async with asyncio.timeout(START_S):
        while not banner or "ready" not in banner[-1]:
            line = (await proc.stdout.readline()).decode()
            if not line:
                raise AssertionError(f"serve exited early: {banner}")
            banner.append(line.strip())
    url = next(m.group(1) for line in banner if (m := re.match(r"url:\s+(\S+)", line)))
    return url, banner


async def test_serve_prints_its_url_serves_and_stops_on_sigterm(
        serve: list[asyncio.subprocess.Process]) -> None:
    url, banner = await start(serve, "--fault", "history-without-extra-data")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url) and not url.endswith(":0")
    assert "faults: history-without-extra-data" in banner
    chat = Chat(_Url(url))  # type: ignore[arg-type]
    try:
        alice, peer = await chat.online("alice")
        bob = await chat.account("bob")
        row = await peer.call("send_message", {"target_user_id": bob.id, "message": "over a real port"})
        assert row["receiver_id"] == bob.id and (await peer.next("message")) == row
        proc = serve[0]
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(STOP_S):
            out, err = await proc.communicate()
            reason = await peer.disconnected()
    finally:
        await chat.close()
    assert proc.returncode == 0, err.decode()
    assert "server stopped" in out.decode()
    assert reason is not None and alice.id == 1
    assert "Traceback" not in err.decode()


async def test_serve_refuses_a_foreign_fault(serve: list[asyncio.subprocess.Process]) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callprobe", "serve", "--backend", "socketio", "--port", "0",
        "--fault", "drop-custom=all", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    serve.append(proc)
    async with asyncio.timeout(START_S):
        _, err = await proc.communicate()
    assert proc.returncode == 2
    assert "belongs to the kkim backend" in err.decode()

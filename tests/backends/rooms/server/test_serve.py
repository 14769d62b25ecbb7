"""``callprobe serve --backend rooms`` as a real subprocess: URL printed, traffic served, clean stop."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.backends.rooms.server.clients import Api, RoomClient

START_S = 15.0  # interpreter start and imports on a loaded 2-core machine
STOP_S = 10.0


class Serve:
    def __init__(self, proc: asyncio.subprocess.Process, url: str, banner: list[str]) -> None:
        self.proc, self.url, self.banner = proc, url, banner


async def start_serve(*args: str) -> Serve:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callprobe", "serve", "--backend", "rooms", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    banner: list[str] = []
    try:
        async with asyncio.timeout(START_S):
            while not banner or "ready" not in banner[-1]:
                line = (await proc.stdout.readline()).decode()
                if not line:
                    raise AssertionError(f"serve exited early: {banner}")
                banner.append(line.strip())
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    url = next(m.group(1) for line in banner if (m := re.fullmatch(r"url:\s+(\S+)", line)))
    return Serve(proc, url, banner)


@pytest.fixture
async def serve() -> AsyncIterator[list[Serve]]:
    """Started processes; any still running after the test are killed."""
    procs: list[Serve] = []
    try:
        yield procs
    finally:
        for p in procs:
            if p.proc.returncode is None:
                p.proc.kill()
                await p.proc.wait()


async def test_serve_prints_its_url_serves_and_stops_on_sigterm(serve: list[Serve], tmp_path: Path) -> None:
    db = tmp_path / "rooms.sqlite"
    srv = await start_serve("--db", str(db), "--fault", "relay-drops-candidates")
    serve.append(srv)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", srv.url) and not srv.url.endswith(":0")
    assert "faults: relay-drops-candidates" in srv.banner and f"db:  {db}" in srv.banner
    api = Api(srv.url)
    try:
        alice, bob = await api.party("alice"), await api.party("bob")
        call = await api.start_call(alice, bob)
        room = await RoomClient.join(srv.url, call["uuid"], token=alice.token)
        assert (await room.next())["type"] == "connection"
        srv.proc.send_signal(signal.SIGTERM)
        assert await room.closed(STOP_S) == (1001, "server shutting down")
    finally:
        await api.close()
    out, err = await asyncio.wait_for(srv.proc.communicate(), STOP_S)
    assert srv.proc.returncode == 0, err.decode()
    assert "server stopped" in out.decode() and "Traceback" not in err.decode()
    assert db.exists()


async def test_serve_reports_a_busy_port_with_exit_6(serve: list[Serve]) -> None:
    srv = await start_serve()
    serve.append(srv)
    port = srv.url.rsplit(":", 1)[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callprobe", "serve", "--backend", "rooms", "--port", port,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), START_S)
    assert proc.returncode == 6
    assert f"cannot listen on 127.0.0.1:{port} (--port): port in use" in err.decode()
    assert out == b"" and "Traceback" not in err.decode()
    srv.proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(srv.proc.wait(), STOP_S)
    assert srv.proc.returncode == 0

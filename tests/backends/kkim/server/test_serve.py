"""``callprobe serve`` as a real subprocess: URLs printed, traffic served, clean stop on signals."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from callprobe.commands.serve import command
from tests.backends.kkim.server.rawclient import RawClient, text_msg, user_token
from tests.paths import ROOT

START_S = 15.0   # interpreter start + imports on a loaded 2-core machine
STOP_S = 10.0


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    def __init__(self, proc: asyncio.subprocess.Process, ws_url: str, api_url: str, banner: list[str]) -> None:
        self.proc, self.ws_url, self.api_url, self.banner = proc, ws_url, api_url, banner


async def start_serve(*args: str) -> ServeProcess:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callprobe", "serve", "--ws-port", "0", "--api-port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    banner: list[str] = []
    urls: dict[str, str] = {}
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(START_S):
            while "ready" not in (banner[-1] if banner else ""):
                line = (await proc.stdout.readline()).decode()
                if not line:
                    raise AssertionError(f"serve exited early: {banner}")
                banner.append(line.strip())
                found = re.match(r"(ws|api):\s+(\S+)", line)
                if found:
                    urls[found.group(1)] = found.group(2)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    return ServeProcess(proc, urls["ws"], urls["api"], banner)


@pytest.fixture
async def serve() -> AsyncIterator[list[ServeProcess]]:
    """Started ``callprobe serve`` processes; any still running are killed after the test."""
    procs: list[ServeProcess] = []
    try:
        yield procs
    finally:
        for p in procs:
            if p.proc.returncode is None:
                p.proc.kill()
                await p.proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_serve_subprocess_serves_and_stops_cleanly(serve: list[ServeProcess], sig: signal.Signals) -> None:
    srv = await start_serve()
    serve.append(srv)
    assert re.fullmatch(r"ws://127\.0\.0\.1:\d+", srv.ws_url) and not srv.ws_url.endswith(":0")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", srv.api_url)
    alice = await RawClient.connect(srv.ws_url, "alice", await user_token(srv.api_url, "alice"))
    bob = await RawClient.connect(srv.ws_url, "bob", await user_token(srv.api_url, "bob"))
    try:
        assert (await alice.request(1003, text_msg("alice", "bob", "over a process"))).err_code == 0
        [msg] = await bob.next_push()
        assert msg.content == b"over a process"
        srv.proc.send_signal(sig)
        closed = await bob.wait_closed(STOP_S)
        assert closed.code == 1001
    finally:
        await alice.close()
        await bob.close()
    out, err = await asyncio.wait_for(srv.proc.communicate(), STOP_S)
    assert srv.proc.returncode == 0, err.decode()
    assert "server stopped" in out.decode()
    assert "Traceback" not in err.decode()


async def test_serve_with_db_and_fault_banner(serve: list[ServeProcess], tmp_path: Path) -> None:
    db = tmp_path / "serve.sqlite"
    srv = await start_serve("--db", str(db), "--fault", "push-delay=5", "--fault", "kick-callee")
    serve.append(srv)
    assert f"db:  {db}" in srv.banner
    assert "faults: push-delay=5, kick-callee" in srv.banner or "faults: kick-callee, push-delay=5" in srv.banner
    srv.proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(srv.proc.communicate(), STOP_S)
    assert srv.proc.returncode == 0, err.decode()
    assert db.exists()


def test_serve_help_documents_every_option() -> None:
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0
    for option in ("--host", "--ws-port", "--api-port", "--db", "--secret", "--admin-user",
                   "--no-auto-register", "--fault", "--invite-timeout"):
        assert option in result.output
    for fault in ("invite-not-pushed", "drop-custom=all|candidates", "push-delay=MS"):
        assert fault in result.output


@pytest.mark.parametrize("value, words", [
    ("nope", "unknown fault 'nope'"),
    ("push-delay", "needs a value"),
    ("push-delay=soon", "not a whole number"),
    ("drop-custom=some", "needs one of all|candidates"),
    ("kick-callee=3", "takes no value"),
])
def test_serve_rejects_bad_faults_with_usage_errors(value: str, words: str) -> None:
    result = CliRunner().invoke(command, ["--fault", value])
    assert result.exit_code == 2
    assert words in result.output


async def test_serve_reports_a_busy_port(serve: list[ServeProcess]) -> None:
    srv = await start_serve()
    serve.append(srv)
    port = srv.ws_url.rsplit(":", 1)[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callprobe", "serve", "--ws-port", port, "--api-port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), START_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 6  # ServerStartError: a local server that cannot start, not "unreachable" (4)
    assert "cannot listen" in err.decode() and "Traceback" not in err.decode()
    srv.proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(srv.proc.wait(), STOP_S)
    assert json.dumps(srv.banner)  # banner was printed


def run_serve(*args: str) -> subprocess.CompletedProcess[str]:
    """``callprobe serve`` that is expected to refuse to start; never left running."""
    return subprocess.run([sys.executable, "-m", "callprobe", "serve", *args], check=False,
                          capture_output=True, text=True, timeout=START_S, cwd=ROOT)


@pytest.mark.parametrize("args, code, words", [
    pytest.param(["--db", "{text_file}"], 2, ["{text_file}", "not an SQLite database"], id="db-not-sqlite"),
    pytest.param(["--db", "{tmp}/no/such/dir/gw.sqlite"], 2,
                 ["{tmp}/no/such/dir/gw.sqlite", "directory {tmp}/no/such/dir does not exist"], id="db-dir-missing"),
    pytest.param(["--host", "8.8.8.8"], 2, ["8.8.8.8 (--host)", "address not on this machine"], id="host-not-here"),
    pytest.param(["--host", "no-such-host.invalid"], 2, ["(--host)", "cannot resolve host 'no-such-host.invalid'"],
                 id="host-unresolvable"),
    pytest.param(["--ws-port", "{port}", "--api-port", "{port}"], 2, ["--ws-port and --api-port are both {port}"],
                 id="same-ports"),
])
def test_serve_bad_options_name_the_option_and_the_problem(tmp_path: Path, args: list[str],
                                                           code: int, words: list[str]) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("these are notes, not a database\n" * 10)
    fill = {"text_file": str(text_file), "tmp": str(tmp_path), "port": str(free_port())}
    args = [a.format(**fill) for a in args]
    ports = [] if "--ws-port" in args else ["--ws-port", "0", "--api-port", "0"]
    proc = run_serve(*ports, *args)
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == ""  # no banner: it never listened
    err = proc.stderr
    assert err.startswith("error: ") and "hint: " in err
    assert "Traceback" not in err and "internal error" not in err
    for word in words:
        assert word.format(**fill) in err, err
    assert not (tmp_path / "no").exists()


async def test_serve_names_the_busy_port_option(serve: list[ServeProcess]) -> None:
    srv = await start_serve()
    serve.append(srv)
    port = srv.api_url.rsplit(":", 1)[1]
    proc = await asyncio.to_thread(run_serve, "--ws-port", "0", "--api-port", port)
    assert proc.returncode == 6
    assert f"cannot listen on 127.0.0.1:{port} (--api-port): port in use" in proc.stderr
    assert "choose another --api-port" in proc.stderr


async def test_a_second_serve_on_the_same_db_refuses_to_start(serve: list[ServeProcess], tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite"
    first = await start_serve("--db", str(db))
    serve.append(first)
    second = await asyncio.to_thread(run_serve, "--ws-port", "0", "--api-port", "0", "--db", str(db))
    assert second.returncode == 6, second.stderr
    assert f"--db {db} is in use by another server (process {first.proc.pid})" in second.stderr
    assert "Traceback" not in second.stderr and second.stdout == ""
    # the first one still serves, and writes, undisturbed
    alice = await RawClient.connect(first.ws_url, "alice", await user_token(first.api_url, "alice"))
    await user_token(first.api_url, "bob")
    try:
        assert (await alice.request(1003, text_msg("alice", "bob", "still mine"))).err_code == 0
    finally:
        await alice.close()
    first.proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(first.proc.communicate(), STOP_S)
    assert first.proc.returncode == 0 and "Traceback" not in err.decode()
    # once it stopped, the database is free again
    again = await start_serve("--db", str(db))
    serve.append(again)

"""The managed coturn process: real turnserver on loopback (coturn must be installed).

Tests fail, rather than skip, when ``turnserver`` is missing.
"""

from __future__ import annotations

import gc
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from callprobe.errors import ExitCode
from callprobe.net import coturn as coturn_module
from callprobe.net.coturn import Coturn, CoturnError, free_port, stun_binding_ok
from callprobe.rtc.ice_config import IceServer, parse_ice_url
from callprobe.settings import ClientSettings
from tests.paths import ROOT
from tests.processes import running

SETTINGS = ClientSettings(turn_start_timeout_s=5.0, turn_stop_timeout_s=3.0)


def gone(pid: int, within_s: float = 3.0) -> bool:
    """True once ``pid`` no longer exists (or is a zombie nobody reaped yet); checks at least once."""
    deadline = time.monotonic() + within_s
    while True:
        if not running(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


@pytest.fixture
def turn() -> Iterator[Coturn]:
    server = Coturn(settings=SETTINGS)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_starts_answers_stun_and_stops(turn: Coturn) -> None:
    assert turn.running and turn.port > 0
    pid = turn.pid
    assert pid is not None
    assert stun_binding_ok(turn.listen_ip, turn.port)
    folder = turn.log_path.parent
    assert folder.is_dir() and "Relay ports initialization done" in turn.log_tail(100)
    turn.stop()
    assert gone(pid) and not turn.running
    assert not stun_binding_ok(turn.listen_ip, turn.port)
    assert not folder.exists()  # the private temp folder is removed at stop
    turn.stop()  # idempotent


def test_random_credentials_differ_and_urls_use_them(turn: Coturn) -> None:
    other = Coturn()
    assert turn.user != other.user and turn.password != other.password
    assert len(turn.password) >= 16
    assert turn.stun_url() == f"stun:127.0.0.1:{turn.port}"
    assert turn.turn_url() == f"turn:127.0.0.1:{turn.port}?transport=udp"
    assert parse_ice_url(turn.turn_url("tcp"))["transport"] == "tcp"
    assert turn.ice_servers(stun=True, turn="tcp") == (
        IceServer((turn.stun_url(),)),
        IceServer((turn.turn_url("tcp"),), turn.user, turn.password))
    assert turn.ice_servers(stun=False, turn=None) == ()
    command = turn.command()
    assert "--allow-loopback-peers" in command and "--relay-ip=127.0.0.1" in command
    assert not [arg for arg in command if turn.password in arg or turn.user in arg]
    assert f"user={turn.user}:{turn.password}" in turn.config_text().splitlines()


def test_allow_loopback_peers_only_on_loopback() -> None:
    command = Coturn(listen_ip="192.0.2.10", port=3478, user="u", password="p").command()
    assert "--allow-loopback-peers" not in command
    assert "--listening-ip=192.0.2.10" in command and "--relay-ip=192.0.2.10" in command
    assert "--listening-port=3478" in command


def test_fixed_port_credentials_and_workdir(tmp_path: Path) -> None:
    port = free_port()
    with Coturn(port=port, user="alice", password="s3cret", workdir=tmp_path,
                settings=SETTINGS) as turn:
        assert turn.port == port and stun_binding_ok("127.0.0.1", port)
        assert turn.log_path == tmp_path / "turnserver.log"
        assert (tmp_path / "turnserver.pid").exists()
    assert tmp_path.is_dir() and turn.log_path.exists()  # a caller's folder is kept


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"listen_ip": "localhost"}, "not an IP address"),
    ({"port": 70000}, "out of range"),
    ({"user": "a:b"}, "user"),
    ({"password": ""}, "password"),
    ({"realm": "two words"}, "realm"),
])
def test_bad_arguments_are_usage_errors(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(CoturnError) as caught:
        Coturn(**kwargs)  # type: ignore[arg-type]
    assert words in str(caught.value) and caught.value.exit_code == ExitCode.USAGE


def test_bad_turn_transport_is_refused(turn: Coturn) -> None:
    with pytest.raises(CoturnError, match="not udp or tcp"):
        turn.turn_url("tls")


def test_start_failure_raises_with_log_tail(tmp_path: Path) -> None:
    """An address this host does not have: coturn cannot listen, start says so."""
    broken = Coturn(listen_ip="192.0.2.250", port=free_port(), workdir=tmp_path,
                    settings=ClientSettings(turn_start_timeout_s=1.0, turn_stop_timeout_s=2.0))
    with pytest.raises(CoturnError) as caught:
        broken.start()
    message = str(caught.value)
    assert f"coturn on 192.0.2.250:{broken.port}" in message and "log tail:" in message
    assert "Trying to bind" in message  # coturn's own words, from its log
    assert caught.value.exit_code == ExitCode.SERVER_START_FAILED  # a server callprobe runs: exit 6
    assert not broken.running


def test_address_not_on_this_host_is_named() -> None:
    with pytest.raises(CoturnError, match=r"192\.0\.2\.250 is not an address of this host"):
        Coturn(listen_ip="192.0.2.250").start()


def test_missing_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(CoturnError, match="not installed") as caught:
        Coturn().start()
    assert "apt-get install" in caught.value.hint


def test_dropped_owner_object_stops_the_process() -> None:
    """The weakref finalizer: a Coturn lost without stop() still takes coturn down."""
    server = Coturn(settings=SETTINGS)
    server.start()
    pid, folder = server.pid, server.log_path.parent
    assert pid is not None
    del server
    gc.collect()
    assert gone(pid) and not folder.exists()


def test_killed_owner_process_takes_coturn_down(tmp_path: Path) -> None:
    """SIGKILL leaves no finalizer a chance: the parent-death signal stops coturn."""
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from callprobe.net.coturn import Coturn
        turn = Coturn(workdir=Path({str(tmp_path)!r}))
        turn.start()
        print(turn.pid, flush=True)
        time.sleep(60)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                             text=True)
    pid = 0
    try:
        assert owner.stdout is not None
        pid = int(owner.stdout.readline())
        assert not gone(pid, within_s=0.2)
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(5)
        assert gone(pid)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(5)
        if pid and not gone(pid, within_s=0):
            os.kill(pid, signal.SIGKILL)  # the test failed: leave no orphan behind


def test_in_a_network_namespace() -> None:
    """coturn on 127.0.0.1 inside a fresh namespace: reachable there, not here."""
    name = f"cptest-coturn-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, timeout=10)
        with Coturn(netns=name, settings=SETTINGS) as turn:
            pids = subprocess.run(["ip", "netns", "pids", name], check=True, capture_output=True,
                                  text=True, timeout=10).stdout.split()
            assert str(turn.pid) in pids
            assert stun_binding_ok("127.0.0.1", turn.port, netns=name)
            assert not stun_binding_ok("127.0.0.1", turn.port)  # the host's loopback: nobody
            pid = turn.pid
        assert pid is not None and gone(pid)
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True, timeout=10)


def test_missing_namespace_is_named() -> None:
    with pytest.raises(CoturnError, match="namespace 'cptest-absent' does not exist") as caught:
        Coturn(netns="cptest-absent").start()
    assert caught.value.exit_code == ExitCode.USAGE


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def test_credentials_stay_off_every_command_line(turn: Coturn) -> None:
    """``ps`` shows no credential: coturn reads it from a private 0600 file."""
    assert turn.pid is not None and turn.guard_pid is not None
    for pid in (turn.pid, turn.guard_pid):
        cmdline = _cmdline(pid)
        assert turn.password.encode() not in cmdline and turn.user.encode() not in cmdline, cmdline
    assert b"turnserver" in _cmdline(turn.pid)
    config = turn.log_path.parent / "turnserver.conf"
    assert (config.stat().st_mode & 0o777) == 0o600 and (config.parent.stat().st_mode & 0o077) == 0
    assert f"user={turn.user}:{turn.password}" in config.read_text()


def test_a_callers_workdir_keeps_no_credential(tmp_path: Path) -> None:
    with Coturn(workdir=tmp_path, user="u1", password="pw-not-left-behind", settings=SETTINGS) as turn:
        assert (tmp_path / "turnserver.conf").exists() and turn.running
    assert not (tmp_path / "turnserver.conf").exists()
    assert not [p for p in tmp_path.iterdir() if p.is_file() and b"pw-not-left-behind" in p.read_bytes()]


#: an owner like ``callprobe run``: coturn started from a worker thread (as EmbeddedServices does)
WORKER_THREAD_OWNER = textwrap.dedent("""
    import asyncio, time
    from callprobe.net.coturn import Coturn

    async def main():
        turn = Coturn()
        await asyncio.to_thread(turn.start)
        print(turn.pid, turn.log_path.parent, flush=True)
        await asyncio.sleep(60)

    asyncio.run(main())
""")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_coturn_started_from_a_worker_thread_dies_with_its_owner(sig: signal.Signals) -> None:
    """Whatever kills the owner, coturn goes, and so does its private folder."""
    owner = subprocess.Popen([sys.executable, "-c", WORKER_THREAD_OWNER], cwd=ROOT, stdout=subprocess.PIPE,
                             text=True)
    pid = 0
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline().split()
        pid, folder = int(line[0]), Path(line[1])
        time.sleep(0.3)  # the worker thread that started it is long finished
        assert not gone(pid, within_s=0.2) and folder.is_dir()
        os.kill(owner.pid, sig)
        owner.wait(5)
        assert gone(pid)
        deadline = time.monotonic() + 3
        while folder.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not folder.exists()
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(5)
        if pid and not gone(pid, within_s=0):
            os.kill(pid, signal.SIGKILL)  # the test failed: leave no orphan behind


def test_a_start_removes_folders_of_dead_owners(tmp_path: Path) -> None:
    probe = subprocess.Popen(["true"])  # its pid names a process that has exited
    probe.wait()
    temp = Path(tempfile.gettempdir())
    stale = temp / f"callprobe-coturn-stale{secrets.token_hex(3)}"
    alive = temp / f"callprobe-coturn-alive{secrets.token_hex(3)}"
    foreign = temp / f"callprobe-coturn-foreign{secrets.token_hex(3)}"
    for folder in (stale, alive, foreign):
        folder.mkdir()
        (folder / "turnserver.conf").write_text("user=x:y\n")
    (stale / "owner").write_text(f"{probe.pid} 1\n")
    (alive / "owner").write_text(f"{os.getpid()} {coturn_module.process_start_time(os.getpid())}\n")
    try:
        with Coturn(settings=SETTINGS):
            pass
        assert not stale.exists()
        assert alive.is_dir() and foreign.is_dir()  # a live owner's, and one without an owner file, stay
    finally:
        for folder in (stale, alive, foreign):
            shutil.rmtree(folder, ignore_errors=True)

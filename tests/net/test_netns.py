"""Socket placement in network namespaces (root, Linux): each test makes its own
namespaces with an address only they hold, and deletes them."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from callprobe.errors import ExitCode
from callprobe.net import netns
from tests.net.lab.conftest import require_root


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def spaces() -> Iterator[dict[str, str]]:
    """Two namespaces, each with its own address on lo: {name: address}."""
    require_root()
    made: dict[str, str] = {}
    try:
        for index in (1, 2):
            name = f"cptest-{uuid.uuid4().hex[:8]}"
            _ip("netns", "add", name)
            made[name] = f"10.250.{index}.1"
            _ip("-n", name, "link", "set", "lo", "up")
            _ip("-n", name, "addr", "add", f"{made[name]}/24", "dev", "lo")
        yield made
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10, check=False)


def _binds(address: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
        return True


def test_entered_moves_the_thread_and_comes_back(spaces: dict[str, str]) -> None:
    name, address = next(iter(spaces.items()))
    home = os.readlink("/proc/thread-self/ns/net")
    assert not _binds(address)
    with netns.entered(name):
        assert _binds(address)
        assert os.readlink("/proc/thread-self/ns/net") != home
    assert os.readlink("/proc/thread-self/ns/net") == home
    assert not _binds(address)
    assert netns.addresses(name) == [address]


async def test_two_placed_tasks_make_sockets_in_their_own_namespaces(spaces: dict[str, str]) -> None:
    (one, a1), (two, a2) = spaces.items()

    async def serve_and_connect(address: str) -> tuple[bool, bool]:
        server = await asyncio.start_server(lambda r, w: w.close(), address, 0)
        port = server.sockets[0].getsockname()[1]
        await asyncio.sleep(0.01)  # let the other task run in between
        _, writer = await asyncio.open_connection(address, port)
        writer.close()
        server.close()
        await server.wait_closed()
        return _binds(address), _binds(a2 if address == a1 else a1)

    with netns.placed(one):
        first = asyncio.create_task(serve_and_connect(a1))
    with netns.placed(two):
        second = asyncio.create_task(serve_and_connect(a2))
    assert await asyncio.gather(first, second) == [(True, False), (True, False)]
    assert netns.current() is None and not _binds(a1)


async def test_unplaced_code_is_unaffected_and_none_is_a_no_op(spaces: dict[str, str]) -> None:
    with netns.placed(None):
        assert netns.current() is None
        assert _binds("127.0.0.1")
    name = next(iter(spaces))
    with netns.placed(name):
        assert netns.current() == name
    assert socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close() is None


@pytest.mark.parametrize(("name", "words"), [
    ("cptest-missing-0", "does not exist"),
    ("../etc", "is not a network namespace name"),
    ("", "is not a network namespace name"),
])
def test_unusable_names_are_clear_errors(name: str, words: str) -> None:
    with pytest.raises(netns.NetnsError) as caught, netns.entered(name):
        pass
    assert words in str(caught.value) and caught.value.exit_code == ExitCode.USAGE

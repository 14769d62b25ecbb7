"""Why a gateway cannot start, in words that name the option and the problem."""

from __future__ import annotations

import dataclasses
import errno
import socket
import sqlite3
from pathlib import Path

import pytest

from callprobe.backends.kkim.server.server import EmbeddedGateway
from callprobe.backends.kkim.server.store import Store
from callprobe.backends.listen import listen_error
from callprobe.errors import ConfigError, ExitCode, ServerStartError
from tests.conftest import BASE, GatewayFactory


@pytest.mark.parametrize("exc, kind, words", [
    (OSError(errno.EADDRINUSE, "address already in use"), ServerStartError,
     "cannot listen on 127.0.0.1:10002 (--api-port): port in use"),
    (OSError(errno.EADDRNOTAVAIL, "cannot assign requested address"), ConfigError,
     "cannot listen on 127.0.0.1 (--host): address not on this machine"),
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), ConfigError,
     "(--host): cannot resolve host '127.0.0.1' (Name or service not known)"),
    (OSError(errno.EACCES, "permission denied"), ConfigError, "(--api-port): permission denied"),
    (OSError(errno.ENOBUFS, "no buffer space available"), ServerStartError,
     "(--api-port): no buffer space available"),
])
def test_listen_errors_are_worded_by_errno(exc: OSError, kind: type[Exception], words: str) -> None:
    err = listen_error(exc, "127.0.0.1", 10002, "--api-port")
    assert type(err) is kind
    assert words in str(err) and err.hint


def test_host_and_option_errors_are_usage_errors_and_a_busy_port_cannot_start() -> None:
    assert listen_error(OSError(errno.EADDRNOTAVAIL, ""), "h", 1, "--ws-port").exit_code == ExitCode.USAGE
    busy = listen_error(OSError(errno.EADDRINUSE, ""), "h", 1, "--ws-port")
    assert busy.exit_code == ExitCode.SERVER_START_FAILED == 6


def test_a_text_file_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 20)
    with pytest.raises(ConfigError, match=r"notes\.txt' as the gateway database \(--db\): it is not an SQLite database"):
        Store(str(path))
    assert path.read_text().startswith("not a database")  # left untouched


def test_another_applications_database_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (name TEXT)")
    db.close()
    with pytest.raises(ConfigError, match="SQLite database with other tables"):
        Store(str(path))


def test_a_directory_or_a_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="it is a directory"):
        Store(str(tmp_path))
    with pytest.raises(ConfigError, match=f"directory {tmp_path}/gone does not exist"):
        Store(str(tmp_path / "gone" / "gw.sqlite"))


def test_a_database_the_gateway_made_opens_again(tmp_path: Path) -> None:
    path = str(tmp_path / "gw.sqlite")
    store = Store(path)
    store.register_user("alice")
    store.close()
    again = Store(path)
    try:
        assert again.user_exists("alice")
    finally:
        again.close()


async def test_embedded_gateway_refuses_one_port_for_both(make_gateway: GatewayFactory) -> None:
    with pytest.raises(ConfigError, match="--ws-port and --api-port are both 10555"):
        await make_gateway(ws_port=10555, api_port=10555)


async def test_a_failed_start_leaves_the_gateway_stopped(make_gateway: GatewayFactory) -> None:
    first = await make_gateway()
    busy = int(first.api_url.rsplit(":", 1)[1])
    gw = EmbeddedGateway(dataclasses.replace(BASE, api_port=busy))
    with pytest.raises(ServerStartError, match=f"127.0.0.1:{busy} \\(--api-port\\): port in use"):
        await gw.start()
    assert not gw.started
    with pytest.raises(ConfigError, match="not started"):
        _ = gw.ws_url


async def test_two_gateways_on_one_database_file(make_gateway: GatewayFactory, tmp_path: Path) -> None:
    db = str(tmp_path / "gw.sqlite")
    first = await make_gateway(db_path=db)
    second = EmbeddedGateway(dataclasses.replace(BASE, db_path=db))
    with pytest.raises(ServerStartError, match=f"--db {db} is in use by another server") as caught:
        await second.start()
    assert caught.value.exit_code == ExitCode.SERVER_START_FAILED and not second.started
    await first.stop()  # releases the lock: the file can be served again
    third = await make_gateway(db_path=db)
    assert third.started


async def test_a_failed_bind_releases_the_database(make_gateway: GatewayFactory, tmp_path: Path) -> None:
    db = str(tmp_path / "gw.sqlite")
    other = await make_gateway()
    busy = int(other.ws_url.rsplit(":", 1)[1])
    with pytest.raises(ServerStartError, match="port in use"):
        await EmbeddedGateway(dataclasses.replace(BASE, db_path=db, ws_port=busy)).start()
    assert (await make_gateway(db_path=db)).started

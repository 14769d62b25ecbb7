"""Login modes against a scripted auth API (aiohttp on 127.0.0.1), and the pure helpers."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from callprobe.backends.kkim.login import (
    LoginError,
    dig,
    fill_template,
    login,
)
from callprobe.errors import ConfigError, DeadlineExceeded, ServerUnreachable
from callprobe.scenario.model import LoginConfig

from .conftest import FAST

Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AuthStub:
    """Records every request; answers with the route the test gives."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str], Any]] = []
        self.routes: dict[str, Route] = {}
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        text = await request.text()
        body = json.loads(text) if text else None
        self.seen.append((request.path, dict(request.headers), body))
        route = self.routes.get(request.path)
        if route is None:
            return web.json_response({"errCode": 404, "errMsg": "no route"}, status=404)
        return await route(request)


@pytest.fixture
async def stub() -> AsyncIterator[AuthStub]:
    auth = AuthStub()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", auth.handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    auth.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield auth
    finally:
        await runner.cleanup()


def ok(data: dict[str, Any]) -> Route:
    async def route(_: web.Request) -> web.StreamResponse:
        return web.json_response({"errCode": 0, "errMsg": "", "errDlt": "", "data": data})
    return route


async def test_admin_user_token_sends_admin_token_and_operation_ids(stub: AuthStub) -> None:
    stub.routes["/auth/get_admin_token"] = ok({"token": "ADMIN", "expireTimeSeconds": 10})
    stub.routes["/auth/get_user_token"] = ok({"token": "USER", "expireTimeSeconds": 20})
    result = await login(stub.url, "alice", 7, LoginConfig(secret="s3", admin_user="boss"), FAST)
    assert (result.token, result.mode, result.expire_s) == ("USER", "admin_user_token", 20)
    assert result.steps == ("POST /auth/get_admin_token", "POST /auth/get_user_token")
    (_p1, h1, b1), (_p2, h2, b2) = stub.seen
    assert b1 == {"secret": "s3", "userID": "boss"} and "token" not in h1
    assert b2 == {"platformID": 7, "userID": "alice"} and h2["token"] == "ADMIN"
    assert h1["operationID"] and h2["operationID"] and h1["operationID"] != h2["operationID"]


def upstream_user_token(known: set[str]) -> Route:
    """get_user_token as upstream answers it: known users only, else 1004 record not found."""
    async def route(request: web.Request) -> web.StreamResponse:
        user = (await request.json())["userID"]
        if user not in known:
            return web.json_response({"errCode": 1004, "errMsg": "RecordNotFoundError", "errDlt": ""})
        return web.json_response({"errCode": 0, "errMsg": "", "data": {"token": f"T-{user}"}})
    return route


def upstream_register(known: set[str]) -> Route:
    async def route(request: web.Request) -> web.StreamResponse:
        assert request.headers["token"] == "ADMIN"
        users = [u["userID"] for u in (await request.json())["users"]]
        if known & set(users):
            return web.json_response({"errCode": 1102, "errMsg": "RegisteredAlreadyError", "errDlt": ""})
        known.update(users)
        return web.json_response({"errCode": 0, "errMsg": ""})
    return route


async def test_register_makes_an_unknown_user_and_asks_again(stub: AuthStub) -> None:
    known = {"alice"}
    stub.routes["/auth/get_admin_token"] = ok({"token": "ADMIN"})
    stub.routes["/auth/get_user_token"] = upstream_user_token(known)
    stub.routes["/user/user_register"] = upstream_register(known)
    with pytest.raises(LoginError) as refused:
        await login(stub.url, "carol", 5, None, FAST)
    assert refused.value.err_code == 1004 and "carol" not in known
    result = await login(stub.url, "carol", 5, None, FAST, register=True, nickname="Carol")
    assert result.token == "T-carol" and "carol" in known
    assert result.steps == ("POST /auth/get_admin_token", "POST /auth/get_user_token", "POST /user/user_register",
                            "POST /auth/get_user_token")
    assert stub.seen[-2][2] == {"users": [{"userID": "carol", "nickname": "Carol"}]}
    again = await login(stub.url, "alice", 5, None, FAST, register=True)  # a known user costs nothing more
    assert again.token == "T-alice" and again.steps == ("POST /auth/get_admin_token", "POST /auth/get_user_token")


async def test_register_takes_already_registered_as_done_and_reports_other_refusals(stub: AuthStub) -> None:
    known: set[str] = set()
    stub.routes["/auth/get_admin_token"] = ok({"token": "ADMIN"})
    stub.routes["/auth/get_user_token"] = upstream_user_token(known)

    async def raced(request: web.Request) -> web.StreamResponse:  # someone registered it meanwhile
        known.add((await request.json())["users"][0]["userID"])
        return web.json_response({"errCode": 1102, "errMsg": "RegisteredAlreadyError"})
    stub.routes["/user/user_register"] = raced
    assert (await login(stub.url, "dave", 5, None, FAST, register=True)).token == "T-dave"

    async def refuses(_: web.Request) -> web.StreamResponse:
        return web.json_response({"errCode": 1001, "errMsg": "ArgsError", "errDlt": "userID has _"})
    stub.routes["/user/user_register"] = refuses
    with pytest.raises(LoginError) as refused:
        await login(stub.url, "e_f", 5, None, FAST, register=True)
    assert refused.value.err_code == 1001 and refused.value.url.endswith("/user/user_register")


async def test_none_config_means_openim_defaults(stub: AuthStub) -> None:
    stub.routes["/auth/get_admin_token"] = ok({"token": "A"})
    stub.routes["/auth/get_user_token"] = ok({"token": "U"})
    result = await login(stub.url, "bob", 5, None, FAST)
    assert result.token == "U" and stub.seen[0][2] == {"secret": "openIM123", "userID": "imAdmin"}


async def test_user_token_mode(stub: AuthStub) -> None:
    stub.routes["/auth/user_token"] = ok({"token": "OLD", "expireTimeSeconds": 5})
    result = await login(stub.url, "bob", 2, LoginConfig(mode="user_token"), FAST)
    assert result.token == "OLD"
    assert stub.seen[0][2] == {"secret": "openIM123", "platformID": 2, "userID": "bob"}


async def test_custom_login_fills_the_template_and_digs_the_token(stub: AuthStub) -> None:
    stub.routes["/account/login"] = ok({"imToken": "IM", "chatToken": "CHAT", "userID": "u1"})
    config = LoginConfig(mode="custom", url="/account/login", token_path="data.imToken",
                         headers={"X-App": "probe-{user_id}"},
                         body={"account": "{user_id}", "password": "{password}", "platform": "{platform_id}",
                               "deviceID": "dev-{platform_id}"})
    result = await login(stub.url, "u1", 5, config, FAST, password="pw")
    assert result.token == "IM"
    _, headers, body = stub.seen[0]
    assert body == {"account": "u1", "password": "pw", "platform": 5, "deviceID": "dev-5"}
    assert headers["X-App"] == "probe-u1" and headers["operationID"]


async def test_custom_reply_without_token_names_the_path(stub: AuthStub) -> None:
    stub.routes["/account/login"] = ok({"chatToken": "x"})
    config = LoginConfig(mode="custom", url=stub.url + "/account/login", token_path="data.imToken", body={})
    with pytest.raises(LoginError) as info:
        await login(stub.url, "u1", 5, config, FAST)
    assert "data.imToken" in str(info.value) and "errCode" in str(info.value)


async def test_refusal_carries_status_code_and_words(stub: AuthStub) -> None:
    async def refuse(_: web.Request) -> web.StreamResponse:
        return web.json_response({"errCode": 1001, "errMsg": "ArgsError", "errDlt": "secret mismatch"})
    stub.routes["/auth/get_admin_token"] = refuse
    with pytest.raises(LoginError) as info:
        await login(stub.url, "alice", 5, LoginConfig(), FAST)
    err = info.value
    assert (err.status, err.err_code, err.err_msg) == (200, 1001, "ArgsError")
    assert "secret mismatch" in str(err) and "ArgsError" in str(err)


async def test_http_error_and_non_json(stub: AuthStub) -> None:
    async def boom(_: web.Request) -> web.StreamResponse:
        return web.Response(status=500, text="internal")

    async def html(_: web.Request) -> web.StreamResponse:
        return web.Response(status=200, text="<html>")

    stub.routes["/auth/user_token"] = boom
    with pytest.raises(LoginError) as info:
        await login(stub.url, "a", 5, LoginConfig(mode="user_token"), FAST)
    assert info.value.status == 500 and "HTTP 500" in str(info.value)
    stub.routes["/auth/user_token"] = html
    with pytest.raises(LoginError) as info:
        await login(stub.url, "a", 5, LoginConfig(mode="user_token"), FAST)
    assert "not a JSON object" in str(info.value)


async def test_slow_api_exceeds_login_timeout(stub: AuthStub) -> None:
    async def slow(_: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.3)
        return web.json_response({})
    stub.routes["/auth/user_token"] = slow
    settings = type(FAST)(**{**FAST.__dict__, "login_timeout_s": 0.05})
    with pytest.raises(DeadlineExceeded) as info:
        await login(stub.url, "a", 5, LoginConfig(mode="user_token"), settings)
    assert info.value.setting == "login_timeout_s"


async def test_refused_connection_is_server_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ServerUnreachable):
        await login(f"http://127.0.0.1:{port}", "a", 5, None, FAST)


async def test_config_errors_name_the_problem() -> None:
    with pytest.raises(ConfigError, match="unknown_mode"):
        await login("http://127.0.0.1:1", "a", 5, LoginConfig(mode="unknown_mode"), FAST)
    with pytest.raises(ConfigError, match="needs a token"):
        await login("http://127.0.0.1:1", "a", 5, LoginConfig(mode="fixed"), FAST)
    with pytest.raises(ConfigError, match="needs a url"):
        await login("http://127.0.0.1:1", "a", 5, LoginConfig(mode="custom"), FAST)
    fixed = await login("http://127.0.0.1:1", "a", 5, LoginConfig(mode="fixed", token="T"), FAST)
    assert fixed.token == "T" and fixed.steps == ()


def test_fill_template_types_and_unknown_placeholders() -> None:
    values = {"user_id": "u", "platform_id": 5}
    assert fill_template({"a": "{platform_id}", "b": ["x{user_id}y", 3]}, values) == {"a": 5, "b": ["xuy", 3]}
    assert fill_template('{"p": {platform_id}}', values) == '{"p": 5}'
    with pytest.raises(ConfigError, match=r"body\.k.*\{nope\}"):
        fill_template({"k": "{nope}"}, values)


def test_dig_follows_dotted_paths() -> None:
    reply = {"data": {"imToken": "t", "list": [{"token": "x"}]}}
    assert dig(reply, "data.imToken") == "t"
    assert dig(reply, "data.list.0.token") == "x"
    assert dig(reply, "data.missing") is None and dig(reply, "data.list.5") is None

"""Load a scenario file: YAML, then shape (JSON Schema), then meaning, then the model.

Three passes, each adding ``Problem``s with file line and field:

1. ``source.parse``: YAML syntax, duplicate keys.
2. ``schema.check_shape``: keys, types, enums, durations.
3. ``_Checker``: what a schema cannot say well: agents named in steps exist,
   the invite ``to`` is not the caller, login-mode rules, faults only with the
   embedded gateway, settings against ``ClientSettings``, agents connected
   before they act. Parts that failed pass 2 are skipped here, so one slip
   gives one message.

All problems are reported together in one ``InvalidScenario`` (a
``ScenarioError``); the model is built only from a clean file.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path as FsPath
from typing import Any

from callprobe.errors import CallprobeError, ScenarioError
from callprobe.rtc.ice_config import IceConfig, IceServer, parse_ice_url
from callprobe.scenario.model import (
    DEFAULT_ADMIN_USER,
    DEFAULT_PLATFORM_ID,
    DEFAULT_SECRET,
    DEFAULT_TOKEN_PATH,
    Action,
    AgentConfig,
    Expectation,
    LoginConfig,
    Scenario,
    ServerConfig,
    Step,
)
from callprobe.scenario.schema import check_shape
from callprobe.scenario.source import Path, Problem, Source, field_name, parse
from callprobe.scenario.values import (
    LOGIN_PLACEHOLDERS,
    describe,
    one_of,
    parse_duration,
    parse_platform,
    placeholders,
    suggest,
)
from callprobe.settings import ClientSettings

#: Login keys and the modes that use them (others are an error, not silently ignored).
_LOGIN_KEY_MODES: dict[str, tuple[str, ...]] = {
    "secret": ("admin_user_token", "user_token", "custom"),
    "admin_user": ("admin_user_token",),
    "url": ("custom",), "method": ("custom",), "headers": ("custom",), "body": ("custom",),
    "token_path": ("custom",),
}

#: Values that stand in for placeholders when a JSON-text login body is checked.
_SAMPLE_VALUES: dict[str, Any] = {"user_id": "u", "platform_id": 5, "password": "p",
                                  "nickname": "n", "secret": "s", "operation_id": "o"}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class InvalidScenario(ScenarioError):
    """A scenario file with one or more problems; ``problems`` lists them all.

    The message is one ``FILE:LINE: FIELD: what`` line per problem; ``file``,
    ``line`` and ``field`` are those of the first.
    """

    def __init__(self, file: str, problems: list[Problem]) -> None:
        first, rest = problems[0], problems[1:]
        message = first.message + "".join("\n" + format_problem(file, p) for p in rest)
        hint = "see scenarios/README.md for the scenario format"
        super().__init__(message, file=file, line=first.line, field=first.field, hint=hint)
        self.problems = tuple(problems)


def format_problem(file: str, problem: Problem) -> str:
    """``FILE:LINE: FIELD: message``, leaving out the parts that are unknown."""
    where = file
    if problem.line is not None:
        where = f"{where}:{problem.line}"
    if problem.field:
        where = f"{where}: {problem.field}"
    return f"{where}: {problem.message}"


def load_scenario(path: str | FsPath) -> Scenario:
    """Read and check a scenario file.

    Raises:
        ScenarioError: the file cannot be read, or it is not a valid
            scenario (then an ``InvalidScenario`` listing every problem).
    """
    name = str(path)
    try:
        text = FsPath(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"not UTF-8 text (byte {exc.start})", file=name) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read the file: {exc.strerror or exc}", file=name) from None
    return load_scenario_text(text, file=name)


def load_scenario_text(text: str, file: str = "<string>") -> Scenario:
    """Check scenario YAML ``text``; ``file`` names it in messages and in ``Scenario.file``."""
    source = parse(text, file)
    problems = list(source.problems)
    if () in source.nodes:  # the document parsed (its data may still be null)
        problems += check_shape(source)
        checker = _Checker(source, problems)
        scenario = checker.run()
        problems = checker.problems
    else:
        scenario = None
    if problems or scenario is None:
        raise InvalidScenario(file, _ordered(problems))
    return scenario


def _ordered(problems: list[Problem]) -> list[Problem]:
    unique: list[Problem] = []
    for problem in problems:
        if problem not in unique:
            unique.append(problem)
    return sorted(unique, key=lambda p: p.line if p.line is not None else 1 << 30)


class _Checker:
    """Pass 3: meaning. Builds the model as it goes; returns None on any problem."""

    def __init__(self, source: Source, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        self.broken = [p.path for p in problems]
        data = source.data
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        agents = self.data.get("agents")
        self.agent_names: list[str] = [str(k) for k in agents] if isinstance(agents, dict) else []
        self.agents: dict[str, AgentConfig] = {}

    # ------------------------------------------------------------ helpers

    def error(self, path: Path, message: str) -> None:
        self.problems.append(self.source.problem(path, message))

    def intact(self, path: Path) -> bool:
        """True when pass 2 found nothing wrong at ``path`` itself or above it."""
        return not any(path[: len(p)] == p for p in self.broken)

    def ok(self, path: Path) -> bool:
        """True when pass 2 found nothing wrong at, above or below ``path``."""
        return not any(p[: len(path)] == path or path[: len(p)] == p for p in self.broken)

    def text(self, path: Path, value: Any) -> str:
        """A text field as written: numbers and true/false keep their spelling."""
        if isinstance(value, str):
            return value
        raw = self.source.raw_text(path)
        return raw if raw is not None else str(value)

    def agent_ref(self, path: Path, value: Any) -> str | None:
        """A known agent name (as written), or None after reporting an unknown one."""
        name = self.text(path, value)
        if name in self.agent_names:
            return name
        hint = suggest(name, self.agent_names)
        known = ", ".join(self.agent_names) if self.agent_names else "none defined"
        self.error(path, f"unknown agent {name!r}{hint}; the agents are: {known}")
        return None

    def user_of(self, name: str) -> str:
        agent = self.agents.get(name)
        return agent.user_id if agent else name

    # ------------------------------------------------------------ sections

    def run(self) -> Scenario | None:
        if () in self.broken or not self.data:
            return None
        settings = self.settings()
        server = self.server()
        ice = self.ice()
        self.agents_section(server)
        steps = self.steps()
        if self.problems or server is None or ice is None or settings is None or steps is None:
            return None
        name = self.data["name"]
        return Scenario(
            name=name, description=str(self.data.get("description") or ""), file=self.source.file,
            server=server, ice=ice, agents=dict(self.agents), steps=steps, settings=settings,
        )

    def settings(self) -> ClientSettings | None:
        given = self.data.get("settings")
        if given is None or not self.ok(("settings",)):
            return ClientSettings() if given is None else None
        fields = {f.name: f for f in dataclasses.fields(ClientSettings)}
        hints = typing.get_type_hints(ClientSettings)
        overrides: dict[str, Any] = {}
        for key, value in given.items():
            path: Path = ("settings", key)
            if key not in fields:
                self.error(path, f"unknown setting {key!r}{suggest(key, fields)}; "
                                 f"expected a ClientSettings field: {one_of(fields)}")
                continue
            try:
                overrides[key] = _coerce_setting(hints[key], value)
            except ValueError as exc:
                self.error(path, str(exc))
        try:
            return dataclasses.replace(ClientSettings(), **overrides)
        except (TypeError, ValueError, CallprobeError) as exc:  # a field's own validation
            self.error(("settings",), f"settings rejected: {exc}")
            return None

    def server(self) -> ServerConfig | None:
        given = self.data.get("server") or {}
        base: Path = ("server",)
        if not self.ok(base):
            return None
        ws_url = str(given.get("ws_url") or "")
        api_url = str(given.get("api_url") or "")
        embedded = bool(given.get("embedded", not ws_url))
        if ws_url and embedded:
            self.error(base + ("embedded",), "embedded: true and ws_url exclude each other; remove "
                       "ws_url to use the embedded gateway, or embedded to use the remote one")
        if not ws_url and not embedded:
            self.error(base + ("embedded",), "embedded: false needs ws_url (the remote gateway, "
                       "like ws://10.0.0.5:10001)")
        remote = bool(ws_url)
        if api_url and not remote:
            self.error(base + ("api_url",), "api_url is for a remote gateway (with ws_url); "
                       "the embedded gateway serves its own auth API")
        faults = tuple(str(f) for f in given.get("faults") or ())
        if faults and remote:
            self.error(base + ("faults",), "faults need the embedded gateway; remove them, or ws_url")
        elif faults:
            self.check_faults(faults)
        ring = given.get("ring_timeout_s")
        ring_s = parse_duration(ring) if ring is not None else None
        if ring is not None and remote:
            self.error(base + ("ring_timeout_s",), "ring_timeout_s sets the embedded gateway's "
                       "ring time; with a remote gateway use the invite's timeout_s")
        login = self.login(given.get("login") or {}, remote, api_url)
        if login is None:
            return None
        return ServerConfig(embedded=not remote, ws_url=ws_url, api_url=api_url, login=login,
                            faults=faults, ring_timeout_s=ring_s)

    def check_faults(self, faults: tuple[str, ...]) -> None:
        try:
            from callprobe.gateway.faults import FAULTS, parse_fault
        except ImportError:  # pragma: no cover - the gateway ships with callprobe
            return
        for index, fault in enumerate(faults):
            try:
                parse_fault(fault)
            except CallprobeError as exc:
                name = fault.partition("=")[0].strip().lower()
                if name not in FAULTS:
                    message = (f"unknown fault {name!r}{suggest(name, FAULTS)}; "
                               f"known faults: {', '.join(sorted(FAULTS))}")
                else:
                    message = str(exc)
                self.error(("server", "faults", index), message)

    def login(self, given: dict[str, Any], remote: bool, api_url: str) -> LoginConfig | None:
        base: Path = ("server", "login")
        mode = str(given.get("mode") or "admin_user_token")
        for key in given:
            modes = _LOGIN_KEY_MODES.get(key)
            if modes is not None and mode not in modes:
                self.error(base + (key,), f"{key} is used by login mode {one_of(modes)} only "
                                          f"(mode is {mode})")
        url = str(given.get("url") or "")
        if mode == "custom":
            if not url:
                self.error(base + ("mode",), "login mode custom needs a url (absolute, or a path "
                                             "relative to server.api_url)")
            for key in ("url", "headers", "body"):
                for name in placeholders(given.get(key)):
                    if name not in LOGIN_PLACEHOLDERS:
                        self.error(base + (key,), f"unknown placeholder {{{name}}}"
                                   f"{suggest(name, LOGIN_PLACEHOLDERS)}; expected one of "
                                   + one_of("{" + p + "}" for p in LOGIN_PLACEHOLDERS))
            body = given.get("body")
            if isinstance(body, str):
                self.check_json_body(base + ("body",), body)
        needs_api = mode in ("admin_user_token", "user_token") or (mode == "custom" and url.startswith("/"))
        needs_api = needs_api or (mode == "custom" and bool(url) and "://" not in url)
        if remote and needs_api and not api_url:
            self.error(("server", "ws_url"), f"missing key 'api_url' in server: login mode {mode} "
                       "gets tokens from the auth API (like http://10.0.0.5:10002)")
        headers = given.get("headers") or {}
        return LoginConfig(
            mode=mode,
            secret=self.text(base + ("secret",), given["secret"]) if "secret" in given else DEFAULT_SECRET,
            admin_user=(self.text(base + ("admin_user",), given["admin_user"])
                        if "admin_user" in given else DEFAULT_ADMIN_USER),
            url=url,
            method=str(given.get("method") or "POST").upper(),
            headers={str(k): self.text(base + ("headers", k), v) for k, v in headers.items()},
            body=given.get("body"),
            token_path=str(given.get("token_path") or DEFAULT_TOKEN_PATH),
        )

    def check_json_body(self, path: Path, body: str) -> None:
        filled = _PLACEHOLDER.sub(lambda m: str(_SAMPLE_VALUES.get(m.group(1), "")), body)
        try:
            json.loads(filled)
        except ValueError as exc:
            self.error(path, f"a text body must be JSON once placeholders are filled: {exc}")

    def ice(self) -> IceConfig | None:
        base: Path = ("ice",)
        if not self.intact(base):
            return None
        given = self.data.get("ice") or {}
        before = len(self.problems)
        servers: list[IceServer] = []
        for index, item in enumerate(given.get("servers") or () if self.intact(base + ("servers",)) else ()):
            path = base + ("servers", index)
            if not self.ok(path):
                continue
            server = self.ice_server(path, item)
            if server is not None:
                servers.append(server)
        hosts_value = given.get("host_addresses")
        hosts: tuple[str, ...] | None = None
        if hosts_value is not None and self.ok(base + ("host_addresses",)):
            if not hosts_value:
                self.error(base + ("host_addresses",), "empty list; leave host_addresses out to "
                           "use the default (127.0.0.1 with the embedded gateway, every interface "
                           "with a remote one)")
            for index, address in enumerate(hosts_value):
                try:
                    ipaddress.ip_address(address)
                except ValueError:
                    self.error(base + ("host_addresses", index),
                               f"expected an IP address like 127.0.0.1, got {describe(address)}")
            hosts = tuple(hosts_value)
        relay_only = given.get("relay_only", False) is True
        if relay_only and self.ok(base + ("servers",)) and not any(s.is_turn for s in servers):
            self.error(base + ("relay_only",), "relay_only needs a TURN server in ice.servers "
                       "(urls: turn:HOST:PORT, with username and credential)")
        if len(self.problems) > before or not self.ok(base):
            return None
        try:
            return IceConfig(servers=tuple(servers), host_addresses=hosts or None, relay_only=relay_only)
        except CallprobeError as exc:
            self.error(base, str(exc))
            return None

    def ice_server(self, path: Path, item: dict[str, Any]) -> IceServer | None:
        urls_value = item["urls"]
        urls = (urls_value,) if isinstance(urls_value, str) else tuple(urls_value)
        good = True
        for index, url in enumerate(urls):
            where = path + ("urls",) if isinstance(urls_value, str) else path + ("urls", index)
            try:
                parse_ice_url(url)
            except CallprobeError as exc:
                self.error(where, str(exc))
                good = False
        if not good:
            return None
        username = self.text(path + ("username",), item.get("username", ""))
        credential = self.text(path + ("credential",), item.get("credential", ""))
        try:
            return IceServer(urls=urls, username=username, credential=credential)
        except CallprobeError as exc:
            self.error(path, str(exc))
            return None

    def agents_section(self, server: ServerConfig | None) -> None:
        given = self.data.get("agents")
        if not isinstance(given, dict):
            return
        mode = server.login.mode if server is not None else None
        for name, spec in given.items():
            base: Path = ("agents", name)
            if not self.ok(base):
                continue
            spec = spec or {}
            user_id = self.text(base + ("user_id",), spec["user_id"]) if "user_id" in spec else name
            if not user_id.strip():
                self.error(base + ("user_id",), "expected a user ID, got empty text")
            try:
                platform_id = parse_platform(spec.get("platform", DEFAULT_PLATFORM_ID))
            except ValueError as exc:
                self.error(base + ("platform",), str(exc))
                platform_id = DEFAULT_PLATFORM_ID
            token = self.text(base + ("token",), spec["token"]) if "token" in spec else ""
            password = self.text(base + ("password",), spec["password"]) if "password" in spec else ""
            if mode == "fixed" and not token:
                self.error(base, f"missing key 'token' in {name}: login mode fixed needs a token "
                                 "for every agent")
            if mode is not None and mode != "fixed" and "token" in spec:
                self.error(base + ("token",), f"token is used by login mode fixed only (mode is {mode})")
            if mode is not None and mode != "custom" and "password" in spec:
                self.error(base + ("password",), f"password is used by login mode custom only "
                                                 f"(mode is {mode})")
            if mode == "custom" and server is not None and not password and any(
                    p == "password" for p in placeholders([server.login.body, server.login.headers,
                                                            server.login.url])):
                self.error(base, f"missing key 'password' in {name}: the custom login uses {{password}}")
            self.agents[name] = AgentConfig(
                name=name, user_id=user_id, platform_id=platform_id,
                media=str(spec.get("media", "video")),
                data_encoding=str(spec.get("data_encoding", "array")),
                compression=str(spec.get("compression", "none")),
                token=token, password=password,
                nickname=self.text(base + ("nickname",), spec["nickname"]) if "nickname" in spec else "",
            )

    def steps(self) -> tuple[Step, ...] | None:
        given = self.data.get("steps")
        if not isinstance(given, list):
            return None
        play = _Play(self)
        out: list[Step] = []
        for index, item in enumerate(given):
            path: Path = ("steps", index)
            if not self.ok(path) or not isinstance(item, dict) or len(item) != 1:
                play.lost_track = True  # what this step did is unknown: no order checks after it
                continue
            verb, value = next(iter(item.items()))
            step = play.step(path, verb, value)
            if step is not None:
                out.append(step)
        return tuple(out)


class _Play:
    """Walks the steps in order, tracking who is connected and who was called."""

    def __init__(self, checker: _Checker) -> None:
        self.c = checker
        self.connected: dict[str, int] = {}       # agent -> line of its connect
        self.ever_connected: set[str] = set()
        self.callers: set[str] = set()
        self.invited_users: set[str] = set()
        self.invites = 0                          # invite steps so far
        self.calls_upper = 0                      # callees invited so far (upper bound on calls)
        self.lost_track = False                   # a broken step came before: skip order checks

    def order_error(self, path: Path, message: str) -> None:
        """An error that depends on earlier steps; dropped once an earlier step was broken."""
        if not self.lost_track:
            self.c.error(path, message)

    def step(self, path: Path, verb: str, value: Any) -> Step | None:
        line = self.c.source.value_line(path) or 0
        text = self.c.source.snippet(path)
        handler: Callable[[Path, Any, int, str], Step | None] = getattr(self, f"_{verb}")
        return handler(path + (verb,), value, line, text)

    # -------------------------------------------------------------- helpers

    def names(self, path: Path, value: Any) -> tuple[str, ...] | None:
        """An agent name or a list of them, each known and listed once."""
        items = [(path + (i,), v) for i, v in enumerate(value)] if isinstance(value, list) else [(path, value)]
        out: list[str] = []
        for item_path, name in items:
            known = self.c.agent_ref(item_path, name)
            if known is None:
                continue
            if known in out:
                self.c.error(item_path, f"agent {known!r} is listed twice")
                continue
            out.append(known)
        return tuple(out) if len(out) == len(items) else None

    def must_be_connected(self, path: Path, name: str, doing: str) -> None:
        if name not in self.connected:
            again = "reconnect" if name in self.ever_connected else "connect"
            self.order_error(path, f"{name} is not connected when it would {doing}; "
                               f"add '- {again}: {name}' before this step")

    # -------------------------------------------------------------- actions

    def _connection(self, verb: str, path: Path, value: Any, line: int, text: str) -> Step | None:
        names = self.names(path, value)
        if names is None:
            self.lost_track = True
            return None
        for index, name in enumerate(names):
            where = path + (index,) if isinstance(value, list) else path
            if verb == "connect":
                if name in self.connected:
                    self.order_error(where, f"{name} is already connected (line {self.connected[name]}); "
                                        "use reconnect to drop and open the connection again")
                self.connected[name] = line
                self.ever_connected.add(name)
            elif verb == "disconnect":
                if name not in self.connected:
                    self.order_error(where, f"{name} is not connected, so it cannot disconnect")
                self.connected.pop(name, None)
            else:  # reconnect
                if name not in self.ever_connected:
                    self.order_error(where, f"{name} was never connected; use connect first")
                self.connected[name] = line
        return Action(line, text, verb, None, names, {})

    def _connect(self, path: Path, value: Any, line: int, text: str) -> Step | None:
        return self._connection("connect", path, value, line, text)

    def _disconnect(self, path: Path, value: Any, line: int, text: str) -> Step | None:
        return self._connection("disconnect", path, value, line, text)

    def _reconnect(self, path: Path, value: Any, line: int, text: str) -> Step | None:
        return self._connection("reconnect", path, value, line, text)

    def _invite(self, path: Path, value: dict[str, Any], line: int, text: str) -> Step | None:
        caller = self.c.agent_ref(path + ("from",), value["from"])
        callees = self.names(path + ("to",), value["to"])
        self.invites += 1
        if caller is None or callees is None:
            self.lost_track = True
            return None
        self.must_be_connected(path + ("from",), caller, "invite")
        to_path = path + ("to",)
        users: dict[str, str] = {}
        for index, callee in enumerate(callees):
            where = to_path + (index,) if isinstance(value["to"], list) else to_path
            user = self.c.user_of(callee)
            if callee == caller:
                self.c.error(where, f"the invite 'to' names the caller {caller!r}; "
                                    "an agent cannot call itself")
            elif user == self.c.user_of(caller):
                self.c.error(where, f"{callee!r} is the caller's own user {user!r}; every device of "
                                    "an invited user rings, so a user cannot call itself")
            elif user in users:
                self.c.error(where, f"{callee!r} and {users[user]!r} are the same user {user!r}; "
                                    "invite the user once: all its devices ring")
            users.setdefault(user, callee)
        self.callers.add(caller)
        self.invited_users.update(users)
        self.calls_upper += len(callees)
        caller_cfg = self.c.agents.get(caller)
        media = value.get("media") or (caller_cfg.media if caller_cfg else "video")
        params = {"media": media, "timeout_s": value.get("timeout_s"), "call": self.invites}
        return Action(line, text, "invite", caller, callees, params)

    def _call_action(self, verb: str, path: Path, value: Any, line: int, text: str) -> Step | None:
        agent_path = path + ("agent",) if isinstance(value, dict) else path
        name = self.c.agent_ref(agent_path, value["agent"] if isinstance(value, dict) else value)
        if name is None:
            return None
        self.must_be_connected(agent_path, name, verb)
        user = self.c.user_of(name)
        if verb in ("accept", "reject") and user not in self.invited_users:
            self.order_error(agent_path, f"{name} cannot {verb}: no earlier invite calls its user {user!r}")
        elif verb == "cancel" and name not in self.callers:
            self.order_error(agent_path, f"{name} cannot cancel: it has not invited anyone in an earlier step")
        elif verb == "hangup" and name not in self.callers and user not in self.invited_users:
            self.order_error(agent_path, f"{name} cannot hang up: no earlier invite involves it")
        return Action(line, text, verb, name, (), {})

    def _accept(self, path: Path, value: Any, line: int, text: str) -> Step | None:
        return self._call_action("accept", path, value, line, text)

    def _reject(self, path: Path, value: Any, line: int, text: str) -> Step | None:
        return self._call_action("reject", path, value, line, text)

    def _cancel(self, path: Path, value: Any, line: int, text: str) -> Step | None:
        return self._call_action("cancel", path, value, line, text)

    def _hangup(self, path: Path, value: Any, line: int, text: str) -> Step | None:
        return self._call_action("hangup", path, value, line, text)

    def _send_text(self, path: Path, value: dict[str, Any], line: int, text: str) -> Step | None:
        sender = self.c.agent_ref(path + ("from",), value["from"])
        receivers = self.names(path + ("to",), value["to"])
        if sender is None or receivers is None:
            return None
        self.must_be_connected(path + ("from",), sender, "send a text")
        for index, receiver in enumerate(receivers):
            where = path + ("to", index) if isinstance(value["to"], list) else path + ("to",)
            if self.c.user_of(receiver) == self.c.user_of(sender):
                self.c.error(where, f"{receiver!r} is the sender's own user; the gateway refuses "
                                    "a message to oneself (errCode 1004)")
        body = self.c.text(path + ("text",), value["text"])
        return Action(line, text, "send_text", sender, receivers, {"text": body})

    def _wait(self, path: Path, value: Any, line: int, text: str) -> Step | None:
        return Action(line, text, "wait", None, (), {"duration_s": parse_duration(value)})

    # -------------------------------------------------------------- expect

    def _expect(self, path: Path, value: dict[str, Any], line: int, text: str) -> Step | None:
        event, outcome = value.get("event"), value.get("outcome")
        if event is None and outcome is None:
            self.c.error(path, "an expectation needs event (ringing, answered, ...) or outcome "
                               "(answered, rejected, ...)")
            return None
        if event is not None and outcome is not None:
            self.c.error(path + ("outcome",), "give event or outcome, not both; use two expect steps")
            return None
        agent = None
        if "agent" in value:
            agent = self.c.agent_ref(path + ("agent",), value["agent"])
            if agent is None:
                return None
        absent = bool(value.get("absent", False))
        if outcome is not None:
            for key in ("agent", "absent", "for", "direction"):
                if key in value:
                    self.c.error(path + (key,), f"{key} does not apply to an outcome (the outcome "
                                                "is the call's); use call: N to pick the call")
        if "direction" in value and event != "media_flowing":
            self.c.error(path + ("direction",), "direction applies to event media_flowing only")
        if absent and "within" in value:
            self.c.error(path + ("within",), "an absent expectation takes 'for' (how long nothing "
                                             "may happen), not 'within'")
        if "for" in value and not absent:
            self.c.error(path + ("for",), "'for' goes with absent: true; for an event that must "
                                          "happen use 'within'")
        if outcome is not None and self.invites == 0:
            self.order_error(path + ("outcome",), "no invite before this step, so there is no call "
                                              "to have an outcome")
        call = value.get("call")
        if call is not None and call > self.calls_upper:
            placed = self.calls_upper
            self.order_error(path + ("call",), f"call {call} does not exist at this step: "
                         f"{placed} call{'s' if placed != 1 else ''} placed before it")
        within = parse_duration(value["within"]) if "within" in value else None
        for_s = parse_duration(value["for"]) if "for" in value else None
        direction = str(value.get("direction", "both")) if event == "media_flowing" else None
        return Expectation(line, text, event=event, agent=agent, within_s=within, absent=absent,
                           for_s=for_s, outcome=outcome, direction=direction, call_index=call)


def _coerce_setting(hint: Any, value: Any) -> Any:
    """``value`` checked against a ClientSettings field's type; ValueError says what was expected."""
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union \
        else (hint,)
    if value is None:
        if type(None) in allowed:
            return None
        raise ValueError(f"expected {_type_words(allowed)}, got nothing")
    for kind in allowed:
        if kind is bool and isinstance(value, bool):
            return value
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise ValueError(f"expected a whole number of 0 or more, got {value}")
            return value
        if kind is float and not isinstance(value, bool) and isinstance(value, (int, float, str)):
            if isinstance(value, str):
                try:
                    return parse_duration(value)
                except ValueError:
                    continue
            if value < 0:
                raise ValueError(f"expected a number of 0 or more, got {value}")
            return float(value)
        if kind is str and isinstance(value, str):
            return value
    raise ValueError(f"expected {_type_words(allowed)}, got {describe(value)}")


def _type_words(kinds: tuple[Any, ...]) -> str:
    words = {bool: "true or false", int: "a whole number", float: "a number",
             str: "text", type(None): "nothing (null)"}
    return one_of(words.get(k, getattr(k, "__name__", str(k))) for k in kinds)


__all__ = ["InvalidScenario", "field_name", "format_problem", "load_scenario", "load_scenario_text"]

"""Load a scenario file: YAML, then shape (JSON Schema), then meaning, then the model.

Three passes, each adding ``Problem``s with file line and field:

1. ``source.parse``: YAML syntax, duplicate keys.
2. ``schema.check_shape``: keys, types, enums, durations.
3. ``_Checker`` (with ``steps.StepPlay`` for the steps): what a schema cannot
   say well: agents named in steps exist, the invite ``to`` is not the caller,
   login-mode rules, faults only with the embedded gateway, settings against
   ``ClientSettings``, agents connected before they act. Parts that failed pass 2 are skipped here, so one slip
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
import unicodedata
from pathlib import Path
from typing import Any

from callprobe.errors import CallprobeError, ScenarioError
from callprobe.rtc.ice_config import IceConfig, IceServer, parse_ice_url
from callprobe.scenario.model import (
    DEFAULT_ADMIN_USER,
    DEFAULT_PLATFORM_ID,
    DEFAULT_SECRET,
    DEFAULT_TOKEN_PATH,
    AgentConfig,
    LoginConfig,
    Scenario,
    ServerConfig,
    Step,
)
from callprobe.scenario.schema import check_shape
from callprobe.scenario.source import MAX_FILE_BYTES, FieldPath, Problem, Source, field_name, parse
from callprobe.scenario.steps import StepPlay
from callprobe.scenario.values import (
    LOGIN_PLACEHOLDERS,
    MAX_DURATION_S,
    MAX_INVITE_TIMEOUT_S,
    describe,
    duration_seconds,
    one_of,
    parse_duration,
    parse_platform,
    placeholders,
    quoted,
    span,
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

#: The longest user ID: ``call_notice.sane_invitation`` ignores invitations naming longer ones.
MAX_USER_ID_CHARS = 256

#: The largest value of a ClientSettings field (every one is in seconds); others: MAX_DURATION_S.
_SETTING_MAX: dict[str, float] = {"diagnose_ring_s": MAX_INVITE_TIMEOUT_S}  # an InvitationInfo.timeout


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


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file.

    Raises:
        ScenarioError: the file cannot be read, or it is not a valid
            scenario (then an ``InvalidScenario`` listing every problem).
    """
    name = str(path)
    if Path(path).is_dir():
        raise ScenarioError("is a folder; give a scenario file (callprobe validate also takes a folder)",
                            file=name)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)  # never more: /dev/zero or a huge log stops here
    except OSError as exc:
        raise ScenarioError(f"cannot read the file: {exc.strerror or exc}", file=name) from None
    if len(data) > MAX_FILE_BYTES:
        raise ScenarioError(f"the file is over the limit of {MAX_FILE_BYTES} bytes (1 MiB); "
                            "a scenario is far smaller", file=name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        utf16 = " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise ScenarioError(f"not UTF-8 text{utf16}: byte 0x{data[exc.start]:02X} at offset {exc.start}; "
                            "save the file as UTF-8", file=name, line=line) from None
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
        self.top_ice: dict[str, Any] | None = None  # the scenario's ice keys, merged under each agent's

    # ------------------------------------------------------------ helpers

    def error(self, path: FieldPath, message: str) -> None:
        self.problems.append(self.source.problem(path, message))

    def intact(self, path: FieldPath) -> bool:
        """True when pass 2 found nothing wrong at ``path`` itself or above it."""
        return not any(path[: len(p)] == p for p in self.broken)

    def ok(self, path: FieldPath) -> bool:
        """True when pass 2 found nothing wrong at, above or below ``path``."""
        return not any(p[: len(path)] == path or path[: len(p)] == p for p in self.broken)

    def text(self, path: FieldPath, value: Any) -> str:
        """A text field as written: numbers and true/false keep their spelling."""
        if isinstance(value, str):
            return value
        raw = self.source.raw_text(path)
        return raw if raw is not None else str(value)

    def agent_ref(self, path: FieldPath, value: Any) -> str | None:
        """A known agent name (as written), or None after reporting an unknown one."""
        name = self.text(path, value)
        if name in self.agent_names:
            return name
        hint = suggest(name, self.agent_names)
        known = ", ".join(self.agent_names) if self.agent_names else "none defined"
        self.error(path, f"unknown agent {quoted(name)}{hint}; the agents are: {known}")
        return None

    def user_of(self, name: str) -> str:
        agent = self.agents.get(name)
        return agent.user_id if agent else name

    def no_control(self, path: FieldPath, text: str, what: str) -> None:
        """Report a control character (a line break, NUL...) in ``text``: surely a slip there."""
        bad = next((c for c in text if unicodedata.category(c) == "Cc"), None)
        if bad is not None:
            self.error(path, f"expected {what} without control characters, got {quoted(text)} "
                             f"(U+{ord(bad):04X} at position {text.index(bad) + 1})")

    def check_user_id(self, path: FieldPath, user_id: str) -> None:
        """A user ID an invitation can carry: clients drop invitations naming anything else."""
        bad = next((c for c in user_id if not c.isprintable()), None)
        if bad is not None:
            self.error(path, f"expected a user ID of printable characters, got {quoted(user_id)} "
                             f"(U+{ord(bad):04X} at position {user_id.index(bad) + 1})")
        elif len(user_id) > MAX_USER_ID_CHARS:
            self.error(path, f"expected a user ID of at most {MAX_USER_ID_CHARS} characters, got "
                             f"{len(user_id)}; clients ignore invitations naming longer IDs")

    def duration(self, path: FieldPath, value: Any) -> float | None:
        """Seconds of a duration the schema let through, or None after reporting it (``.nan``, ``90m``)."""
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.error(path, str(exc))
            return None

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
            embedded_ice=self.top_ice.get("embedded_servers", ()) if self.top_ice else (),
        )

    def settings(self) -> ClientSettings | None:
        given = self.data.get("settings")
        if given is None or not self.ok(("settings",)):
            return ClientSettings() if given is None else None
        fields = {f.name: f for f in dataclasses.fields(ClientSettings)}
        hints = typing.get_type_hints(ClientSettings)
        overrides: dict[str, Any] = {}
        for key, value in given.items():
            path: FieldPath = ("settings", key)
            if key not in fields:
                self.error(path, f"unknown setting {quoted(key)}{suggest(key, fields)}; "
                                 f"expected a ClientSettings field: {one_of(fields)}")
                continue
            try:
                overrides[key] = _coerce_setting(hints[key], value, _SETTING_MAX.get(key, MAX_DURATION_S))
            except ValueError as exc:
                self.error(path, str(exc))
        try:
            return dataclasses.replace(ClientSettings(), **overrides)
        except (TypeError, ValueError, CallprobeError) as exc:  # a field's own validation
            self.error(("settings",), f"settings rejected: {exc}")
            return None

    def server(self) -> ServerConfig | None:
        given = self.data.get("server") or {}
        base: FieldPath = ("server",)
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
        ring_s = self.duration(base + ("ring_timeout_s",), ring) if ring is not None else None
        if ring is not None and remote:
            self.error(base + ("ring_timeout_s",), "ring_timeout_s sets the embedded gateway's "
                       "ring time; with a remote gateway use the invite's timeout_s")
        host = str(given.get("host") or "127.0.0.1")
        netns = given.get("netns")
        for key in ("host", "netns"):
            if key in given and remote:
                self.error(base + (key,), f"{key} places the embedded gateway; a remote gateway "
                           "(ws_url) runs where it runs")
        if "host" in given:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                self.error(base + ("host",), f"expected an IP address like 127.0.0.1, got {describe(host)}")
        if netns is not None and "host" not in given:
            self.error(base + ("netns",), "a gateway in a network namespace needs server.host: the "
                       "address agents reach it on (198.51.100.1 in the NAT lab)")
        conflict = bool(ws_url) == embedded  # intent unclear: skip the checks that depend on it
        login = self.login(given.get("login") or {}, remote and not conflict, api_url)
        return ServerConfig(embedded=not remote, ws_url=ws_url, api_url=api_url, login=login,
                            faults=faults, ring_timeout_s=ring_s, host=host,
                            netns=str(netns) if netns is not None else None)

    def check_faults(self, faults: tuple[str, ...], family_name: str = "kkim") -> None:
        from callprobe.backends.registry import family, parse_fault

        FAULTS = family(family_name).faults
        for index, fault in enumerate(faults):
            try:
                parse_fault(family_name, fault)
            except CallprobeError as exc:
                name = fault.partition("=")[0].strip().lower()
                if name not in FAULTS and "belongs to" not in str(exc):
                    message = (f"unknown fault {quoted(name)}{suggest(name, FAULTS)}; "
                               f"known faults: {', '.join(sorted(FAULTS))}")
                else:
                    message = str(exc)
                self.error(("server", "faults", index), message)

    def login(self, given: dict[str, Any], remote: bool, api_url: str) -> LoginConfig:
        base: FieldPath = ("server", "login")
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
        relative_url = mode == "custom" and bool(url) and "://" not in url
        if remote and not api_url and (mode in ("admin_user_token", "user_token") or relative_url):
            why = f"the custom login url {url!r} is relative to it" if relative_url else \
                f"login mode {mode} gets tokens from the auth API"
            self.error(("server", "api_url"), f"missing key 'api_url' in server: {why} "
                       "(like http://10.0.0.5:10002)")
        headers = given.get("headers") or {}
        for key, value in headers.items():  # HTTP cannot carry a line break or NUL in a header
            self.no_control(base + ("headers", key), str(key), "a header name")
            self.no_control(base + ("headers", key), self.text(base + ("headers", key), value), "a header value")
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

    def check_json_body(self, path: FieldPath, body: str) -> None:
        filled = _PLACEHOLDER.sub(lambda m: str(_SAMPLE_VALUES.get(m.group(1), "")), body)
        try:
            json.loads(filled)
        except ValueError as exc:
            self.error(path, f"a text body must be JSON once placeholders are filled: {exc}")

    def ice(self) -> IceConfig | None:
        parts = self.ice_parts(("ice",), self.data.get("ice"))
        if parts is None:
            return None
        self.top_ice = parts
        return self.ice_config(("ice",), parts)

    def ice_parts(self, base: FieldPath, given: Any) -> dict[str, Any] | None:
        """The keys an ``ice`` block gives, checked one by one (merging happens later)."""
        if not self.intact(base):
            return None
        given = given or {}
        before = len(self.problems)
        parts: dict[str, Any] = {}
        if "servers" in given:
            servers: list[IceServer] = []
            for index, item in enumerate(given.get("servers") or () if self.intact(base + ("servers",)) else ()):
                path = base + ("servers", index)
                if not self.ok(path):
                    continue
                server = self.ice_server(path, item)
                if server is not None:
                    servers.append(server)
            parts["servers"] = tuple(servers)
        hosts_value = given.get("host_addresses")
        if hosts_value is not None and self.ok(base + ("host_addresses",)):
            if not hosts_value:
                self.error(base + ("host_addresses",), "empty list; leave host_addresses out to "
                           "use the default (127.0.0.1 with the embedded gateway, every interface "
                           "with a remote one or in a network namespace)")
            for index, address in enumerate(hosts_value):
                try:
                    ipaddress.ip_address(address)
                except ValueError:
                    self.error(base + ("host_addresses", index),
                               f"expected an IP address like 127.0.0.1, got {describe(address)}")
            parts["host_addresses"] = tuple(hosts_value) or None
        if "relay_only" in given:
            parts["relay_only"] = given["relay_only"] is True
        if "embedded_servers" in given and self.ok(base + ("embedded_servers",)):
            parts["embedded_servers"] = tuple(dict.fromkeys(str(x) for x in given["embedded_servers"]))
        if len(self.problems) > before or not self.ok(base):
            return None
        return parts

    def ice_config(self, base: FieldPath, parts: dict[str, Any]) -> IceConfig | None:
        servers = parts.get("servers", ())
        embedded = parts.get("embedded_servers", ())
        relay_only = bool(parts.get("relay_only", False))
        if relay_only and not any(s.is_turn for s in servers) and not {"turn", "turn-tcp"} & set(embedded):
            self.error(base + ("relay_only",), "relay_only needs a TURN server: a turn:HOST:PORT "
                       "URL with username and credential in ice.servers, or ice.embedded_servers: "
                       "[turn]")
            return None
        try:
            return IceConfig(servers=servers, host_addresses=parts.get("host_addresses"),
                             relay_only=relay_only)
        except CallprobeError as exc:
            self.error(base, str(exc))
            return None

    def ice_server(self, path: FieldPath, item: dict[str, Any]) -> IceServer | None:
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
        secret = self.text(path + ("secret",), item.get("secret", ""))
        try:
            return IceServer(urls=urls, username=username, credential=credential, secret=secret)
        except CallprobeError as exc:
            self.error(path, str(exc))
            return None

    def agents_section(self, server: ServerConfig | None) -> None:
        given = self.data.get("agents")
        if not isinstance(given, dict):
            return
        mode = server.login.mode if server is not None else None
        for name, spec in given.items():
            base: FieldPath = ("agents", name)
            if not self.ok(base):
                continue
            spec = spec or {}
            user_id = self.text(base + ("user_id",), spec["user_id"]) if "user_id" in spec else name
            if not user_id.strip():
                self.error(base + ("user_id",), "expected a user ID, got empty text")
            else:
                self.check_user_id(base + ("user_id",), user_id)
            try:
                platform_id = parse_platform(spec.get("platform", DEFAULT_PLATFORM_ID))
            except ValueError as exc:
                self.error(base + ("platform",), str(exc))
                platform_id = DEFAULT_PLATFORM_ID
            token = self.text(base + ("token",), spec["token"]) if "token" in spec else ""
            password = self.text(base + ("password",), spec["password"]) if "password" in spec else ""
            if mode == "fixed" and not token:
                self.error(base + ("token",), f"missing key 'token' in {name}: login mode fixed "
                                              "needs a token for every agent")
            if mode is not None and mode != "fixed" and "token" in spec:
                self.error(base + ("token",), f"token is used by login mode fixed only (mode is {mode})")
            if mode is not None and mode != "custom" and "password" in spec:
                self.error(base + ("password",), f"password is used by login mode custom only "
                                                 f"(mode is {mode})")
            if mode == "custom" and server is not None and not password and any(
                    p == "password" for p in placeholders([server.login.body, server.login.headers,
                                                            server.login.url])):
                self.error(base + ("password",), f"missing key 'password' in {name}: the custom "
                                                 "login uses {password}")
            ice, embedded_ice = self.agent_ice(base, spec)
            agent_ns = str(spec["netns"]) if spec.get("netns") is not None else None
            if (agent_ns is not None and server is not None and server.embedded
                    and agent_ns != server.netns and _is_loopback(server.host)):
                self.error(base + ("netns",), f"{name} runs in network namespace {agent_ns}, where "
                           f"{server.host} is that namespace's own loopback: the embedded gateway "
                           "there cannot be reached. Place the gateway with server.host and "
                           "server.netns (198.51.100.1 and cplab-public in the NAT lab)")
            self.agents[name] = AgentConfig(
                name=name, user_id=user_id, platform_id=platform_id,
                media=str(spec.get("media", "video")),
                data_encoding=str(spec.get("data_encoding", "array")),
                compression=str(spec.get("compression", "none")),
                token=token, password=password,
                nickname=self.text(base + ("nickname",), spec["nickname"]) if "nickname" in spec else "",
                netns=str(spec["netns"]) if spec.get("netns") is not None else None,
                ice=ice, embedded_ice=embedded_ice,
            )

    def agent_ice(self, base: FieldPath, spec: dict[str, Any]) -> tuple[IceConfig | None, tuple[str, ...] | None]:
        """An agent's own ``ice`` keys over the scenario's; (None, None) without one."""
        if "ice" not in spec:
            return None, None
        own = self.ice_parts(base + ("ice",), spec["ice"])
        if own is None or self.top_ice is None:
            return None, None
        merged = {**self.top_ice, **own}
        return self.ice_config(base + ("ice",), merged), merged.get("embedded_servers", ())

    def steps(self) -> tuple[Step, ...] | None:
        given = self.data.get("steps")
        if not isinstance(given, list):
            return None
        play = StepPlay(self)
        out: list[Step] = []
        for index, item in enumerate(given):
            path: FieldPath = ("steps", index)
            if not self.ok(path) or not isinstance(item, dict) or len(item) != 1:
                play.lost_track = True  # what this step did is unknown: no order checks after it
                continue
            verb, value = next(iter(item.items()))
            step = play.step(path, verb, value)
            if step is not None:
                out.append(step)
        return tuple(out)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # reported where the host is given
        return False


def _coerce_setting(hint: Any, value: Any, maximum: float) -> Any:
    """``value`` checked against a ClientSettings field's type; ValueError says what was expected.

    Numbers are seconds from 0 to ``maximum``; ``.nan`` and ``.inf`` are refused.
    """
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
            if not 0 <= value <= maximum:
                raise ValueError(f"expected a whole number from 0 to {span(maximum)}, got {value}")
            return value
        if kind is float and not isinstance(value, bool) and isinstance(value, (int, float, str)):
            seconds = duration_seconds(value)
            if seconds is None:
                continue  # text that is no duration
            if not 0 <= seconds <= maximum:  # false for nan too
                shown = describe(value) + ("" if isinstance(value, (int, float)) else f" ({seconds:g} s)")
                raise ValueError(f"expected a number of seconds from 0 to {span(maximum)}, got {shown}")
            return seconds
        if kind is str and isinstance(value, str):
            return value
    raise ValueError(f"expected {_type_words(allowed)}, got {describe(value)}")


def _type_words(kinds: tuple[Any, ...]) -> str:
    words = {bool: "true or false", int: "a whole number", float: "a number",
             str: "text", type(None): "nothing (null)"}
    return one_of(words.get(k, getattr(k, "__name__", str(k))) for k in kinds)


__all__ = ["InvalidScenario", "field_name", "format_problem", "load_scenario", "load_scenario_text"]

"""What a scenario file means, as frozen dataclasses.

The loader (``callprobe.scenario.loader``) builds these from YAML after every
check has passed, so the runner can trust them: agent names in steps exist,
durations are finite seconds above 0 and at most an hour, an invite's
``timeout_s`` is an int, a fixed-mode agent has its token. Defaults
that depend on where a scenario runs stay ``None`` here and are decided by the
runner (``IceConfig.host_addresses``, an expectation's ``within_s``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from callprobe.backends.options import BackendOptions
from callprobe.rtc.ice_config import IceConfig
from callprobe.settings import ClientSettings

#: Action verbs in steps (``- connect: alice``).
ACTION_VERBS = ("connect", "disconnect", "reconnect", "invite", "accept", "reject", "cancel",
                "hangup", "join_room", "send_text", "wait")

#: Verbs whose value is one agent acting on its current call.
CALL_VERBS = ("accept", "reject", "cancel", "hangup", "join_room")


#: Verbs whose value is an agent name or a list of them.
CONNECTION_VERBS = ("connect", "disconnect", "reconnect")

#: Events an ``expect`` step may name (each is a timeline kind or derived from them).
EXPECT_EVENTS = ("ringing", "answered", "rejected", "cancelled", "hung_up", "call_timeout", "busy",
                 "invite_acked", "ice_connected", "media_flowing", "text_received", "kicked",
                 "disconnected", "room_joined", "join_notice")

#: Servers ``ice.embedded_servers`` may ask for: coturn beside the embedded gateway.
EMBEDDED_ICE_SERVERS = ("stun", "turn", "turn-tcp")

#: Call outcomes an ``expect: {outcome: ...}`` step may name.
OUTCOMES = ("answered", "rejected", "cancelled", "busy", "no-answer", "failed")

#: ``via`` of an ``ice_connected`` expectation: the kind of the selected candidate pair.
VIAS = ("relay", "direct")

#: ``direction`` of a ``media_flowing`` expectation, seen from its ``agent``.
DIRECTIONS = ("both", "to", "from")

LOGIN_MODES = ("admin_user_token", "user_token", "fixed", "custom")
DEFAULT_SECRET = "openIM123"
DEFAULT_ADMIN_USER = "imAdmin"

class LoginConfigLike(Protocol):
    """What a login needs to know; ``LoginConfig`` is the one callprobe uses."""

    mode: str
    secret: str
    admin_user: str
    url: str
    method: str
    headers: Mapping[str, str]
    body: Any
    token_path: str


@dataclass(frozen=True)
class LoginConfig:
    """How agents get their tokens; a scenario's ``server.login`` block.

    ``url``, ``method``, ``headers``, ``body`` and ``token_path`` serve mode
    ``custom`` only; ``secret`` and ``admin_user`` the OpenIM modes; ``token``
    mode ``fixed``. Empty text means "not given".
    """

    mode: str = "admin_user_token"
    secret: str = DEFAULT_SECRET
    admin_user: str = DEFAULT_ADMIN_USER
    url: str = ""
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    token_path: str = "data.token"
    token: str = ""           # mode "fixed" (a scenario gives it per agent instead)



DEFAULT_TOKEN_PATH = "data.token"
DEFAULT_PLATFORM_ID = 5  # Web


@dataclass(frozen=True)
class ServerConfig:
    """Which gateway the agents talk to: the embedded one, or a remote one."""

    embedded: bool = True
    family: str = "kkim"                  # server.backend.family: which driver and embedded server
    backend: BackendOptions | None = None  # the family's names and choices (server.backend)
    url: str = ""                         # socketio/rooms: the remote server's HTTP base URL
    ws_url: str = ""
    api_url: str = ""
    login: LoginConfig = field(default_factory=LoginConfig)
    faults: tuple[str, ...] = ()          # "name" or "name=value", embedded gateway only
    ring_timeout_s: float | None = None   # embedded only: GatewaySettings.invite_timeout_override_s
    host: str = "127.0.0.1"               # embedded only: the address the gateway (and embedded coturn) listen on
    netns: str | None = None              # embedded only: the network namespace they run in

    @property
    def remote_url(self) -> str:
        """What ``--server`` would say for this server: KKIM's ``ws_url``, the others' ``url``."""
        return self.ws_url if self.family == "kkim" else self.url

    def fault_pairs(self) -> tuple[tuple[str, str], ...]:
        """``faults`` as ``(name, value)`` pairs, the form ``GatewaySettings.faults`` takes."""
        return tuple((name, value) for name, _, value in (f.partition("=") for f in self.faults))


@dataclass(frozen=True)
class AgentConfig:
    """One simulated user device. Empty text means "not given"."""

    name: str
    user_id: str
    platform_id: int = DEFAULT_PLATFORM_ID
    media: str = "video"            # what this agent offers when it calls
    data_encoding: str = "array"    # request data as a JSON number array, or base64
    compression: str = "none"       # or "gzip"
    token: str = ""                 # login mode fixed
    password: str = ""              # login mode custom
    nickname: str = ""
    netns: str | None = None        # the network namespace this agent's sockets live in
    ice: IceConfig | None = None    # None: the scenario's ice; else the scenario's merged with the agent's own
    embedded_ice: tuple[str, ...] | None = None  # None: the scenario's embedded_servers
    external: bool = False          # a user callprobe does not play: it is only called and calls (docs/peers.md)
    browser: str = ""               # "chromium" or a Chromium executable's path: a real browser plays it

    @property
    def kind(self) -> str:
        """``external``, ``browser`` or ``agent``: who plays this party."""
        return "external" if self.external else "browser" if self.browser else "agent"


@dataclass(frozen=True)
class Action:
    """A step that does something; it is the anchor of the expectations after it.

    ``agent`` is the agent that acts (the caller of ``invite``, the sender of
    ``send_text``, the agent of ``accept``/``reject``/``cancel``/``hangup``),
    ``None`` for ``connect``/``disconnect``/``reconnect``/``wait``.
    ``targets`` are the agents acted on: the agents to (dis/re)connect, the
    callees of ``invite``, the receivers of ``send_text``.

    ``params`` by verb: ``invite``: ``media`` (always set), ``timeout_s``
    (int 1..86400 or None), ``call`` (the 1-based number of this invite step),
    ``join_order`` (backends with call rooms: ``caller-first``,
    ``callee-first``, ``steps`` when ``join_room`` steps decide, or None for
    the backend's default); ``send_text``: ``text``; ``wait``: ``duration_s``.
    """

    line: int
    text: str
    verb: str
    agent: str | None = None
    targets: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def agents(self) -> tuple[str, ...]:
        """Every agent the step involves, actor first."""
        return ((self.agent,) if self.agent else ()) + self.targets


@dataclass(frozen=True)
class Expectation:
    """A step that checks the timeline.

    Exactly one of ``event``, ``outcome`` and ``finding`` is set; ``finding``
    is a diagnostic code (``analysis.diagnostics.findings``) the rules must
    (or, with ``absent``, must not) find on the timeline so far. ``within_s`` (window for
    an event that must happen) and ``for_s`` (window of an ``absent`` one) are
    ``None`` when not written: the runner then uses
    ``ClientSettings.default_expect_within_s``. ``agent`` ``None`` means every
    agent in the call. ``direction`` is set for ``media_flowing`` only
    (default ``both``). ``call_index`` is the 1-based call (``None``: the
    latest).
    """

    line: int
    text: str
    event: str | None = None
    agent: str | None = None
    within_s: float | None = None
    absent: bool = False
    for_s: float | None = None
    outcome: str | None = None
    direction: str | None = None
    call_index: int | None = None
    via: str | None = None          # ice_connected only: "relay" or "direct" selected pair
    finding: str | None = None      # a finding code the run must show (absent: must not)


Step = Action | Expectation


@dataclass(frozen=True)
class Scenario:
    """A whole scenario file, checked."""

    name: str
    description: str
    file: str
    server: ServerConfig
    ice: IceConfig
    agents: dict[str, AgentConfig]
    steps: tuple[Step, ...]
    settings: ClientSettings = field(default_factory=ClientSettings)
    embedded_ice: tuple[str, ...] = ()   # ice.embedded_servers: coturn started for the run

    def ice_for(self, agent: str) -> IceConfig:
        """``agent``'s ICE settings: its own ``ice`` block merged over the scenario's."""
        own = self.agents[agent].ice
        return self.ice if own is None else own

    def embedded_ice_for(self, agent: str) -> tuple[str, ...]:
        own = self.agents[agent].embedded_ice
        return self.embedded_ice if own is None else own

    @property
    def needs_coturn(self) -> bool:
        return any(self.embedded_ice_for(name) for name in self.agents if not self.agents[name].external)

    @property
    def played(self) -> tuple[str, ...]:
        """The agents callprobe plays (every one but the external parties)."""
        return tuple(name for name, cfg in self.agents.items() if not cfg.external)

    @property
    def actions(self) -> tuple[Action, ...]:
        return tuple(s for s in self.steps if isinstance(s, Action))

    @property
    def expectations(self) -> tuple[Expectation, ...]:
        return tuple(s for s in self.steps if isinstance(s, Expectation))

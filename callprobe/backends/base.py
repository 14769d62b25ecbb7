"""The small interface every backend driver implements.

An agent drives a call through a ``Driver`` and reads back *neutral* notices
(``DriverNotice``); it never sees a backend's frames. Drivers record every
frame and state change on the shared timeline themselves, as the neutral
typed events of ``callprobe.timeline.events``, so engine, analysis and
reporters work unchanged for every backend (``docs/architecture.md#new-backend``).
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from callprobe.backends.options import BackendOptions
from callprobe.errors import CallprobeError, ExitCode
from callprobe.rtc.ice_config import IceConfig
from callprobe.scenario.model import LoginConfig
from callprobe.settings import ClientSettings
from callprobe.timeline.events import Event, EventT, stamped
from callprobe.timeline.recorder import Timeline

MediaKind = Literal["audio", "video"]

#: Notice kinds a driver puts on its queue; each is also a timeline kind.
NOTICE_KINDS = (
    "ringing",          # an invite reached this agent
    "answered",         # the peer accepted (the join/accept notice)
    "rejected",         # the peer rejected
    "cancelled",        # the inviter cancelled, or another device took the call
    "hung_up",          # the peer hung up
    "call_timeout",     # the server ended an unanswered call
    "signal_received",  # an SDP offer/answer or ICE candidate from the peer
    "text_received",    # an ordinary text message
    "kicked",           # another login took this connection's place
    "disconnected",     # the connection closed (by either side)
)


@dataclass(frozen=True)
class DriverNotice:
    """Something the backend told this agent, in neutral terms.

    ``room_id`` identifies the call; ``peer`` the other user; ``path`` how it
    arrived (e.g. ``push_1601`` or ``unsolicited_1004``); ``data`` carries the
    rest (a signal's type and payload, a text, a close code).
    """

    kind: str
    room_id: str = ""
    peer: str = ""
    path: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """A client core's output: put ``event`` on the timeline."""

    event: Event


@dataclass(frozen=True)
class Deliver:
    """A client core's output: hand ``notice`` to the agent (every family's core has these two)."""

    notice: DriverNotice


#: A family's own outputs (frames, emits, replies...), besides ``Record`` and ``Deliver``.
OutputT = TypeVar("OutputT")


class ClientCore(Generic[OutputT]):
    """What every family's sans-I/O client shares: outputs queued in order, drained by its I/O layer."""

    def __init__(self) -> None:
        self._out: list[OutputT | Record | Deliver] = []

    def outputs(self) -> list[OutputT | Record | Deliver]:
        """Everything queued since the last call, in order."""
        out, self._out = self._out, []
        return out

    def _record(self, event: EventT) -> EventT:
        self._out.append(Record(event))
        return event

    def _deliver(self, notice: DriverNotice) -> None:
        self._out.append(Deliver(notice))


@dataclass(frozen=True)
class InviteResult:
    """The server's answer to an invite: the room to use from now on."""

    room_id: str
    busy: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgentIdentity:
    """Who an agent is on the backend.

    ``user_id`` is how the backend names the user in its messages (KKIM: the
    scenario's user ID; backends with integer ids: the id login returned, as
    text); ``username`` is what the user logs in with (KKIM: the user ID).
    """

    name: str                 # scenario name (timeline agent column)
    user_id: str
    platform_id: int = 5
    nickname: str = ""
    username: str = ""

    @property
    def login_name(self) -> str:
        return self.username or self.user_id


class Driver(abc.ABC):
    """One agent's connection to a backend.

    Every method that waits applies a deadline from ``ClientSettings`` and
    raises ``callprobe.errors.DeadlineExceeded`` naming it; a refusal by the
    server raises a ``DriverError`` carrying the server's code and text.
    """

    family: str = "abstract"
    #: Parties meet in a per-call room they join (``join_room``; join orders in scenarios).
    has_rooms: bool = False

    def __init__(self, identity: AgentIdentity, timeline: Timeline, settings: ClientSettings) -> None:
        self.identity = identity
        self.timeline = timeline
        self.settings = settings
        self.notices: asyncio.Queue[DriverNotice] = asyncio.Queue()

    def _record(self, event: Event) -> None:
        """Put ``event`` on the timeline as this agent's."""
        self.timeline.record(stamped(event, agent=self.identity.name))

    # connection
    @abc.abstractmethod
    async def login(self) -> None:
        """Obtain credentials (token) for this identity."""

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open the signaling connection and start heartbeats."""

    @abc.abstractmethod
    async def disconnect(self) -> None:
        """Close the signaling connection on purpose (no reconnect)."""

    async def reconnect(self) -> None:
        await self.disconnect()
        await self.connect()

    @property
    @abc.abstractmethod
    def connected(self) -> bool:
        """True while the signaling connection is open."""

    @property
    def peer_media(self) -> bool:
        """Whether calls carry WebRTC media between the agents (False: the backend's
        media runs elsewhere, e.g. a conference room both parties join by name)."""
        return True

    # calls
    @abc.abstractmethod
    async def invite(self, callees: list[AgentIdentity], media: MediaKind, timeout_s: int) -> InviteResult:
        """Place a call; returns the server-assigned room."""

    @abc.abstractmethod
    async def accept(self, room_id: str) -> None: ...

    @abc.abstractmethod
    async def reject(self, room_id: str) -> None: ...

    @abc.abstractmethod
    async def cancel(self, room_id: str) -> None: ...

    @abc.abstractmethod
    async def hangup(self, room_id: str) -> None: ...

    @abc.abstractmethod
    async def send_signal(self, peer: str, room_id: str, signal_type: str, data: Any) -> None:
        """Relay an SDP offer/answer or ICE candidate to ``peer``."""

    async def join_room(self, room_id: str) -> None:
        """Enter the call's room (backends with ``has_rooms``); the others refuse."""
        raise DriverError("join_room", 0, f"the {self.family} backend has no call rooms to join")

    # messages
    @abc.abstractmethod
    async def send_text(self, peer: AgentIdentity, text: str) -> None: ...

    async def close(self) -> None:
        """Release everything; safe to call twice."""
        await self.disconnect()


@dataclass(frozen=True)
class Endpoints:
    """Where a server listens: ``server`` is what ``--server`` takes (``ws://`` for
    KKIM, the ``http://`` base URL of the others); ``api`` is KKIM's auth API."""

    server: str
    api: str = ""


@dataclass(frozen=True)
class DriverSpec:
    """Everything a family's ``create_driver`` needs for one agent.

    ``agent`` and ``server`` are the scenario's ``AgentConfig`` and
    ``ServerConfig`` (``None`` when a command builds a driver without a
    scenario); each family reads the options it understands. ``register``
    asks backends with a register endpoint to create the account first (an
    existing one is fine): always for an embedded server, on request otherwise.
    """

    identity: AgentIdentity
    timeline: Timeline
    settings: ClientSettings
    endpoints: Endpoints
    agent: Any = None
    server: Any = None
    register: bool = False


@dataclass(frozen=True)
class WalkTarget:
    """Where and whom ``callprobe diagnose`` walks: a server and two accounts.

    ``server`` is what ``--server`` takes for the family; ``api`` is KKIM's
    auth API. ``login`` is the scenario's ``LoginConfig`` (KKIM), ``password``
    the accounts' password (backends that log in with one), ``caller_token``
    and ``callee_token`` each side's token for login mode ``fixed``. ``ice``
    is an ``rtc.ice_config.IceConfig``; per-side ICE and namespaces override it.
    """

    server: str
    api: str
    caller: str
    callee: str
    family: str = "kkim"
    caller_platform: int = 5
    callee_platform: int = 5
    media: MediaKind = "video"
    login: LoginConfig | None = None
    password: str = ""
    register: bool = False
    backend: BackendOptions | None = None
    ice: IceConfig | None = None
    caller_ice: IceConfig | None = None
    callee_ice: IceConfig | None = None
    caller_netns: str | None = None
    callee_netns: str | None = None
    caller_token: str = ""
    callee_token: str = ""


@dataclass(frozen=True)
class AuthProbe:
    """A connection attempt that must be refused: ``run()`` returns the probe
    marker fields (``outcome``, ``status``, ...; ``analysis.diagnostics.links``)."""

    step: str
    run: Callable[[], Awaitable[dict[str, Any]]]


class WalkContext(Protocol):
    """What a backend's own walk step may use: the two drivers, the timeline, the deadlines."""

    timeline: Timeline
    settings: ClientSettings
    target: WalkTarget
    room_id: str

    @property
    def caller_driver(self) -> Driver: ...

    @property
    def callee_driver(self) -> Driver: ...

    async def wait_for(self, agent: str, cls: type[EventT], seconds: float, since: float | None = None,
                       pred: Callable[[EventT], bool] | None = None) -> EventT | None:
        """The first such event of ``agent`` (``"caller"``/``"callee"``) since ``since`` ms, or None at the deadline."""


@dataclass(frozen=True)
class ExtraStep:
    """A link only this backend can probe, walked right after the common step ``after``.

    ``after`` is a step name of ``analysis.diagnostics.links`` (``login``,
    ``connect``, ``heartbeat``, ``text_push``, ``invite``, ``answer``,
    ``media``, ``hangup``, ``history``); ``link`` the ``Link`` value it judges;
    ``run`` returns StepFinished fields.
    """

    after: str
    link: str
    step: str
    agent: str
    run: Callable[[WalkContext], Awaitable[dict[str, Any]]]


class WalkProbes(abc.ABC):
    """What ``callprobe diagnose`` asks a backend beyond the common links.

    Each family's ``walk.py`` has ``create_probes(target, settings)``. Every
    method returns StepFinished fields (``analysis.diagnostics.links``).
    """

    def extra_steps(self) -> list[ExtraStep]:
        """Links only this backend has (none by default)."""
        return []

    def missing_steps(self) -> dict[str, str]:
        """Common steps whose link this backend does not have, each with the reason.

        The walk records such a step as not applicable (``ok``, ``exists``
        false, the reason) instead of failing it; none by default.
        """
        return {}

    @abc.abstractmethod
    def auth_probes(self) -> list[AuthProbe]:
        """Handshakes without or with a forged identity, in walk order."""

    @abc.abstractmethod
    async def heartbeat(self, driver: Driver) -> dict[str, Any]:
        """One heartbeat round: ``ok``, ``sent``, ``replies``, ``rtt_ms``."""

    @abc.abstractmethod
    async def history(self, driver: Driver, peer: AgentIdentity, room_id: str) -> dict[str, Any]:
        """The call's invitation as history returns it: ``found``, ``complete``, ``missing``."""


@dataclass(frozen=True)
class EmbeddedConfig:
    """What a run asks of an embedded reference server: where, which faults, how long calls ring.

    ``faults`` are ``NAME[=VALUE]`` texts of the family's table; ``login`` is
    the scenario's login block (KKIM takes its secret and admin user from it).
    Each family's ``server`` package turns this into its own settings with
    ``embedded(config)``, always on a free port.
    """

    host: str = "127.0.0.1"
    faults: tuple[str, ...] = ()
    ring_timeout_s: float | None = None
    login: Any = None
    #: a load run: the family lifts the limits its server package names in ``LOAD_LIMITS`` (connection
    #: counts made for one client per address, not thousands of agents from one machine)
    load: bool = False


class EmbeddedServer(Protocol):
    """A reference server callprobe runs itself: ``start()``, then always ``stop()``."""

    async def start(self) -> None:
        """Bind and serve; raise ``ConfigError``/``ServerStartError`` naming the option to change."""

    async def stop(self) -> None:
        """Close every connection and the store; safe to call twice."""

    @property
    def endpoints(self) -> Endpoints:
        """Valid after ``start()``."""

    def active_faults(self) -> list[str]:
        """``name`` or ``name=value`` of each fault switched on."""


class DriverError(CallprobeError):
    """The backend refused an operation; carries its code and words."""

    code = "SERVER_REFUSED"
    exit_code = ExitCode.EXPECTATION_FAILED

    def __init__(self, operation: str, err_code: int, err_msg: str, explanation: str = "") -> None:
        text = f"{operation} refused: errCode {err_code} {err_msg}".rstrip()
        if explanation:
            text += f" ({explanation})"
        super().__init__(text)
        self.operation, self.err_code, self.err_msg = operation, err_code, err_msg
        self.explanation = explanation


class InviteRefusedError(DriverError):
    """The server refused an invite; ``busy`` lists users already in a call."""

    def __init__(self, err_code: int, err_msg: str, explanation: str, busy: tuple[str, ...]) -> None:
        super().__init__("invite", err_code, err_msg, explanation)
        self.busy = busy

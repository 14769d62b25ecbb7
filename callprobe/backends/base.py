"""The small interface every backend driver implements.

An agent drives a call through a ``Driver`` and reads back *neutral* notices
(``Notice``); it never sees a backend's frames. Drivers record every frame and
state change on the shared ``Timeline`` themselves, with neutral event kinds
(``callprobe.timeline.events.Kind``), so runner, metrics, diagnostics and reports work
unchanged for KKIM today and for the Socket.IO and Gin backends later.
"""

from __future__ import annotations

import abc
import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from callprobe.errors import CallprobeError, ExitCode
from callprobe.timeline.events import Timeline
from callprobe.settings import ClientSettings

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
class Notice:
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
class InviteResult:
    """The server's answer to an invite: the room to use from now on."""

    room_id: str
    busy: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgentIdentity:
    """Who an agent is on the backend."""

    name: str                 # scenario name (timeline agent column)
    user_id: str
    platform_id: int = 5
    nickname: str = ""


class Driver(abc.ABC):
    """One agent's connection to a backend.

    Every method that waits applies a deadline from ``ClientSettings`` and
    raises ``callprobe.errors.DeadlineExceeded`` naming it; a refusal by the
    server raises a ``DriverError`` carrying the server's code and text.
    """

    family: str = "abstract"

    def __init__(self, identity: AgentIdentity, timeline: Timeline, settings: ClientSettings) -> None:
        self.identity = identity
        self.timeline = timeline
        self.settings = settings
        self.notices: asyncio.Queue[Notice] = asyncio.Queue()

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

    # calls
    @abc.abstractmethod
    async def invite(self, callees: list[str], media: MediaKind, timeout_s: int) -> InviteResult:
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

    # messages
    @abc.abstractmethod
    async def send_text(self, peer: str, text: str) -> None: ...

    async def close(self) -> None:
        """Release everything; safe to call twice."""
        await self.disconnect()


@dataclass(frozen=True)
class Endpoints:
    """Where a server listens: ``server`` is what ``--server`` takes (``ws://`` for
    KKIM, the ``http://`` base URL of the others); ``api`` is KKIM's auth API."""

    server: str
    api: str = ""


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

"""The parties of a run: what the runner plays a scenario with (``docs/peers.md#parties``).

A scenario party is one of four kinds, and the runner treats them alike
through ``Party``:

- ``agent``: a simulated agent in this process (``engine.agent.Agent``);
- ``browser``: a real Chromium playing the test page (``callprobe.browser``);
- ``remote``: an agent played by a ``callprobe agent`` process, anywhere
  that reaches the gateway (``engine.remote``);
- ``external``: a user callprobe does not play (``ExternalParty``): it can be
  invited and it can call in, but it never acts in a step and nothing it sees
  is on the timeline.

Each says what it is with one ``PartyInfo`` event when the run starts, so a
report tells how far each figure can be trusted.
"""

from __future__ import annotations

from typing import Protocol

from callprobe.backends.base import AgentIdentity, MediaKind
from callprobe.errors import CallprobeError
from callprobe.timeline.events import PartyInfo


class Party(Protocol):
    """What the runner asks of every party; the verbs are the scenario's actions."""

    name: str
    media: MediaKind

    @property
    def kind(self) -> str:
        """``agent``, ``browser``, ``remote`` or ``external``."""

    @property
    def identity(self) -> AgentIdentity: ...

    @property
    def user_id(self) -> str: ...

    def describe(self) -> PartyInfo:
        """The ``PartyInfo`` event naming this party (recorded once it has started)."""

    async def start(self) -> None:
        """Get ready to act (launch a browser, wait for a remote agent); nothing for an agent."""

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def reconnect(self) -> None: ...

    async def invite(self, callees: list[AgentIdentity], media: MediaKind, timeout_s: int,
                     join_order: str | None = None) -> str | None: ...

    async def learn_join_order(self, room_id: str, join_order: str | None) -> None:
        """A callee is told the join order of the call placed to it (backends with rooms)."""

    async def join_room(self, room_id: str | None = None) -> str:
        """Enter the call's room (backends with rooms: ``docs/backends/rooms.md``)."""

    async def accept(self, room_id: str | None = None) -> str: ...

    async def reject(self, room_id: str | None = None) -> None: ...

    async def cancel(self, room_id: str | None = None) -> None: ...

    async def hangup(self, room_id: str | None = None) -> None: ...

    async def send_text(self, peer: AgentIdentity, text: str) -> None: ...

    async def release_calls(self) -> None: ...

    async def close(self) -> None: ...


class ExternalParty:
    """A user callprobe does not play: a name and an identity to invite, nothing to act with.

    The scenario loader refuses every step in which it would act; these
    methods refuse too, so a hand-built scenario cannot slip past.
    """

    kind = "external"

    def __init__(self, name: str, identity: AgentIdentity, media: MediaKind = "video") -> None:
        self.name = name
        self._identity = identity
        self.media: MediaKind = media

    @property
    def identity(self) -> AgentIdentity:
        return self._identity

    @property
    def user_id(self) -> str:
        return self._identity.user_id

    def describe(self) -> PartyInfo:
        return PartyInfo(agent=self.name, role="external", user_id=self.user_id,
                         text="not played by callprobe: only what its peers and the gateway report is known")

    def _refuse(self, verb: str) -> CallprobeError:
        return CallprobeError(f"{self.name} is external: callprobe does not play it, so it cannot {verb}")

    async def start(self) -> None:
        return None

    async def connect(self) -> None:
        raise self._refuse("connect")

    async def disconnect(self) -> None:
        raise self._refuse("disconnect")

    async def reconnect(self) -> None:
        raise self._refuse("reconnect")

    async def invite(self, callees: list[AgentIdentity], media: MediaKind, timeout_s: int,
                     join_order: str | None = None) -> str | None:
        raise self._refuse("invite")

    async def learn_join_order(self, room_id: str, join_order: str | None) -> None:
        return None  # whenever it joins is its own client's business

    async def join_room(self, room_id: str | None = None) -> str:
        raise self._refuse("join a room")

    async def accept(self, room_id: str | None = None) -> str:
        raise self._refuse("accept")

    async def reject(self, room_id: str | None = None) -> None:
        raise self._refuse("reject")

    async def cancel(self, room_id: str | None = None) -> None:
        raise self._refuse("cancel")

    async def hangup(self, room_id: str | None = None) -> None:
        raise self._refuse("hang up")

    async def send_text(self, peer: AgentIdentity, text: str) -> None:
        raise self._refuse("send a text")

    async def release_calls(self) -> None:
        return None

    async def close(self) -> None:
        return None


__all__ = ["ExternalParty", "Party"]

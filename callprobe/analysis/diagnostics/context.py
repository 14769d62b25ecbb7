"""What the rules need to know about a run besides its events.

The timeline says what happened; the context says what was *meant* to
happen: who called whom, how long a notice may take, which links the run
exercised and which findings the scenario itself provokes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from callprobe.analysis.diagnostics.links import Link
from callprobe.settings import ClientSettings


@dataclass(frozen=True)
class RuleContext:
    """Who is who, the deadlines in force, and the links a run exercised.

    Attributes:
        caller: agent name of the caller (timeline ``agent``).
        callee: agent name of the callee's first device.
        caller_user / callee_user: their backend user IDs.
        callee_devices: further agents logged in as the callee (multi-device).
        users: more ``(agent, user_id)`` pairs; agents not named anywhere are
            looked up in the timeline (``sendID`` of their connection URL), and
            failing that their name is taken as their user ID.
        media: ``"audio"`` or ``"video"``; ``""`` to take it from the invite.
        ring_deadline_ms: an invite that rings later is INVITE_NOT_DELIVERED
            (late); ``None``: only an invite that never rings is.
        notice_deadline_ms: the same for answer, hangup, text and SDP notices.
        probes: the ``Link`` values the run exercised; ``None`` judges every
            link the timeline shows being tried (an accept sent, an offer
            sent...). Absence rules fire only for exercised links.
        expected: finding codes the scenario provokes on purpose; they are
            kept but lowered to ``info``.
        media_grace_ms: a leg that ended sooner than this after connecting
            is too short to say media did not flow (first frames take ~0.1 s).
    """

    caller: str = ""
    callee: str = ""
    caller_user: str = ""
    callee_user: str = ""
    callee_devices: tuple[str, ...] = ()
    users: tuple[tuple[str, str], ...] = ()
    media: str = ""
    ring_deadline_ms: float | None = None
    notice_deadline_ms: float | None = None
    probes: frozenset[str] | None = None
    media_grace_ms: float = 1000.0
    expected: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_settings(cls, client: ClientSettings, **kwargs: object) -> RuleContext:
        """A context whose deadlines are the client's default expectation deadline."""
        deadline = client.default_expect_within_s * 1000.0
        kwargs.setdefault("ring_deadline_ms", deadline)
        kwargs.setdefault("notice_deadline_ms", deadline)
        return cls(**kwargs)  # type: ignore[arg-type]

    def exercised(self, link: Link | str) -> bool:
        """Whether rules may judge ``link`` (always, unless ``probes`` says otherwise)."""
        value = link.value if isinstance(link, Link) else link
        return self.probes is None or value in self.probes

    def known_users(self) -> dict[str, str]:
        """Agent name to user ID, from every field that names one."""
        found: dict[str, str] = dict(self.users)
        if self.caller and self.caller_user:
            found[self.caller] = self.caller_user
        if self.callee_user:
            for agent in self.callee_agents():
                found[agent] = self.callee_user
        return found

    def callee_agents(self) -> tuple[str, ...]:
        head = (self.callee,) if self.callee else ()
        return head + tuple(a for a in self.callee_devices if a != self.callee)

    def with_probes(self, links: Iterable[Link | str]) -> RuleContext:
        """A copy that judges only ``links``."""
        return replace(self, probes=frozenset(x.value if isinstance(x, Link) else x for x in links))

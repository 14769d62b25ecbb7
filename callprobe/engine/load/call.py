"""One call of a load run: the scenario played once by ``Runner``, with load agents.

The same runner as ``callprobe run`` plays each call, so a load call passes or
fails exactly as a run of the same file would; only the agents differ:

- ``SignalingAgent`` (``--media none``): connects, rings, accepts and hangs up,
  and opens no peer connection;
- ``MediaAgent``: real WebRTC legs (pre-encoded media, as every peer sends)
  that count received frames from RTP instead of decoding them
  (``rtc.rtp_count``, docs/load.md#media-delivery).

The server is already running somewhere (``server`` and ``api`` URLs): a call
never starts one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from callprobe.analysis.load.records import CallRecord, LegDelivery, make_record
from callprobe.analysis.results import RunResult
from callprobe.backends.base import Driver, MediaKind
from callprobe.engine.agent import Agent, CallLeg
from callprobe.engine.runner import Runner
from callprobe.scenario.model import Scenario
from callprobe.timeline.recorder import Scoped

if TYPE_CHECKING:
    from callprobe.rtc.peer import CallPeer
    from callprobe.rtc.rtp_count import DeliveryLedger


class SignalingAgent(Agent):
    """Signals calls like any agent and opens no WebRTC leg (``--media none``)."""

    webrtc = False  # the answer is the end of signaling here: no peer, no offer

    async def _on_signal(self, leg: CallLeg, notice: Any) -> None:
        return


class MediaAgent(Agent):
    """An agent whose legs count received frames from RTP and settle their delivery in a ledger."""

    ledger: DeliveryLedger

    def _new_peer(self, leg: CallLeg) -> CallPeer:
        from callprobe.rtc.rtp_count import CountingPeer

        return CountingPeer(ledger=self.ledger, room_id=leg.room_id, agent=self.name,
                            timeline=Scoped(self.timeline, leg.room_id), media=leg.media, ice=self.ice,
                            settings=self.settings, turn_prober=self._turn_prober)


class CallRun(Runner):
    """Plays one numbered call against a running server.

    Args:
        scenario: the prepared, numbered scenario (``plan.prepare``, ``plan.numbered``).
        server: what ``--server`` would say; api: KKIM's auth API (else empty).
        webrtc: False for signaling only.
        register: create the numbered accounts first (the load run's own embedded server starts empty).
    """

    def __init__(self, scenario: Scenario, *, server: str, api: str, webrtc: bool, register: bool = False) -> None:
        super().__init__(scenario, ws_url=server, api_url=api or None, register=register)
        self.webrtc = webrtc
        self.ledger: DeliveryLedger | None = None
        if webrtc:
            from callprobe.rtc.rtp_count import DeliveryLedger

            self.ledger = DeliveryLedger()

    def _agent(self, name: str, driver: Driver, media: MediaKind, netns: str | None) -> Agent:
        if not self.webrtc:
            return SignalingAgent(name, driver, self.timeline, self.settings, self._ice(name), media, netns=netns)
        agent = MediaAgent(name, driver, self.timeline, self.settings, self._ice(name), media, netns=netns)
        assert self.ledger is not None
        agent.ledger = self.ledger
        return agent

    async def _warm_media(self) -> None:
        return  # the worker encoded the clips once, before its first call

    @property
    def agents_connected(self) -> int:
        return sum(1 for a in self.agents.values() if isinstance(a, Agent) and a.driver.connected)

    def deliveries(self) -> list[LegDelivery]:
        if self.ledger is None:
            return []
        return [LegDelivery(agent, kind, sent, received) for agent, kind, sent, received in self.ledger.deliveries]

    @property
    def measured(self) -> str:
        """How received frames were counted: ``rtp`` (depacketised), ``decoded``, or ``""`` (no media)."""
        if self.ledger is None or not self.ledger.measured:
            return ""
        return "decoded" if "decoded" in self.ledger.measured else "rtp"


def record_call(number: int, run: CallRun, result: RunResult, findings: list[str]) -> CallRecord:
    """The ``CallRecord`` of a played call."""
    return make_record(number, passed=result.verdict == "pass", calls=result.calls, steps=result.steps,
                       events=result.events, aborted=result.aborted, findings=findings,
                       delivery=run.deliveries(), duration_ms=result.duration_ms, unreachable=result.unreachable)

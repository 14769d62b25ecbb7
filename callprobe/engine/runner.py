"""Play a scenario: start the gateway if embedded, drive the agents, judge.

The runner owns the agents and the embedded gateway for the length of a run
and always tears both down. What happened is on the timeline; the result
bundles it with the expectation verdicts and the derived call figures, and
reporters take it from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from callprobe.analysis.diagnostics.findings import Finding
from callprobe.analysis.diagnostics.run_rules import findings_for_run
from callprobe.analysis.expectations import FAIL, PASS, PENDING, Verdict, Window, judge
from callprobe.analysis.metrics import TEARDOWN_NOTE, derive_calls
from callprobe.analysis.results import RunResult, StepResult
from callprobe.backends.base import Driver, Endpoints, MediaKind
from callprobe.engine.agent import Agent
from callprobe.engine.parties import PartyFactory, probe_turn
from callprobe.engine.party import Party
from callprobe.engine.reachability import looks_unreachable, probe_endpoints
from callprobe.engine.services import (
    EmbeddedServices,
    agent_ice,
    embedded_config,
    services_for,
)
from callprobe.errors import CallprobeError, DeadlineExceeded, ExitCode, ServerUnreachable
from callprobe.rtc.ice_config import IceConfig
from callprobe.scenario.model import Action, Expectation, Scenario
from callprobe.settings import ClientSettings
from callprobe.timeline.events import (
    INTERRUPTED,
    Event,
    ExpectationJudged,
    LoginFailed,
    LoginOk,
    Note,
    PartyLost,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
    Waiting,
)
from callprobe.timeline.recorder import Timeline

Progress = Callable[[int, int, str, str], None]

#: The clips are encoded once the first login is answered, or after this many seconds.
WARM_AFTER_S = 2.0

#: Steps that start a call: they wait for the media modules and clips, so no figure counts an import.
CALL_START_VERBS = ("invite", "accept")


class RemoteParties(Protocol):
    """Where the agents a run plays on other hosts come from (``engine.remote.RemoteHub``)."""

    def make(self, name: str, scenario: Scenario, endpoints: Endpoints, ice: IceConfig,
             on_lost: Callable[[str, str], None], timeline: Timeline, register: bool = False) -> Party: ...

    async def close(self) -> None: ...


class Runner:
    """Plays one scenario once. Use ``await Runner(...).run()``."""

    def __init__(self, scenario: Scenario, *, ws_url: str | None = None, api_url: str | None = None,
                 progress: Progress | None = None, settings: ClientSettings | None = None,
                 remote: RemoteParties | None = None, remote_agents: tuple[str, ...] = (),
                 register: bool | None = None) -> None:
        self.scenario = scenario
        self.settings = settings or scenario.settings
        self.ws_url, self.api_url = ws_url, api_url
        self.progress = progress
        self.timeline = Timeline()
        self.agents: dict[str, Party] = {}
        self.remote, self.remote_agents = remote, tuple(remote_agents)
        self._factory: PartyFactory | None = None
        self._lost = asyncio.Event()
        self._lost_reason = ""
        self.steps: list[StepResult] = []
        self._anchor_ms = 0.0
        self._services: EmbeddedServices | None = None
        # decided once: _start_gateway fills ws_url in, so it cannot be asked later
        self.embedded = ws_url is None and scenario.server.embedded
        # accounts are created first on a server callprobe started (it starts empty), here or for a load run
        self.register = self.embedded if register is None else register
        self.unreachable = False
        self.start_failed = False
        self._placement: dict[str, Any] = {}
        self._warm: asyncio.Task[None] | None = None

    # --------------------------------------------------------------- set-up

    async def _start_gateway(self) -> None:
        """Start what the scenario asks callprobe to run: the gateway and coturn."""
        server = self.scenario.server
        config = embedded_config(self.scenario) if self.embedded else None
        self._services = services_for(self.scenario, self.settings, embedded=self.embedded, server=config)
        if self._services is not None:
            await self._services.start()
            self._placement = self._services.describe()
        if self.embedded and self._services is not None:
            self.ws_url, self.api_url = self._services.endpoints.server, self._services.endpoints.api
        else:
            self.ws_url = self.ws_url or server.remote_url
            self.api_url = self.api_url or server.api_url

    def _ice(self, agent: str) -> IceConfig:
        return agent_ice(self.scenario, agent, self._services, embedded=self.embedded)

    def _make_agents(self) -> None:
        """Every party of the scenario: simulated, browser, external or remote (``engine.party``)."""
        endpoints = Endpoints(str(self.ws_url), str(self.api_url or ""))
        self._factory = PartyFactory(self.scenario, self.timeline, self.settings, endpoints, self._ice,
                                     on_lost=self._party_lost, register=self.register, make_agent=self._agent)
        for name in self.scenario.agents:
            if name in self.remote_agents and self.remote is not None:
                self.agents[name] = self.remote.make(name, self.scenario, endpoints, self._ice(name),
                                                     self._party_lost, self.timeline, register=self.register)
            else:
                self.agents[name] = self._factory.make(name)

    def _agent(self, name: str, driver: Driver, media: MediaKind, netns: str | None) -> Agent:
        """One simulated agent around its driver (a load run plays its own kinds of agent)."""
        return Agent(name, driver, self.timeline, self.settings, self._ice(name), media, netns=netns,
                     turn_prober=probe_turn)

    async def _start_agents(self) -> None:
        """Launch browsers, wait for remote agents; then each party says what it is."""
        try:
            await self._guarded(asyncio.gather(*(a.start() for a in self.agents.values())))
        except DeadlineExceeded as exc:  # a remote agent that never joined, a browser that never started
            raise _PartyLostError(str(exc)) from None
        for party in self.agents.values():
            self.timeline.record(party.describe())

    def _party_lost(self, name: str, reason: str) -> None:
        """A party callprobe plays stopped answering: the run stops, naming it."""
        if self._lost.is_set():
            return
        self.timeline.record(PartyLost(agent=name, reason=reason))
        self._lost_reason = f"{name} was lost: {reason}"
        self._lost.set()

    async def _guarded(self, work: Any) -> Any:
        """Await ``work`` unless a party is lost first; then stop the run with why."""
        task = asyncio.ensure_future(work)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise _PartyLostError(self._lost_reason)

    # ---------------------------------------------------------------- steps

    async def _act(self, step: Action) -> None:
        verb, agents, params = step.verb, self.agents, step.params
        targets = [agents[t] for t in step.targets]
        actor = agents[step.agent] if step.agent else None
        if verb in ("connect", "disconnect", "reconnect"):
            await asyncio.gather(*(getattr(a, verb)() for a in targets))
            return
        if verb == "wait":
            seconds = float(params.get("duration_s", 0))
            self.timeline.record(Waiting(what=f"{seconds:g} s ({step.text})", seconds=seconds, setting="wait",
                                         until_ms=self.timeline.now_ms() + seconds * 1000.0))
            await asyncio.sleep(seconds)
            return
        if actor is None:
            raise CallprobeError(f"line {step.line}: {verb} needs an agent")
        if verb == "invite":
            media: MediaKind = "audio" if (params.get("media") or actor.media) == "audio" else "video"
            timeout_s = int(params.get("timeout_s") or 60)
            order = params.get("join_order")
            room = await actor.invite([callee.identity for callee in targets], media, timeout_s, order)
            if room is not None:
                for callee in targets:
                    await callee.learn_join_order(room, order)
        elif verb in ("accept", "reject", "cancel", "hangup", "join_room"):
            await getattr(actor, verb)()
        elif verb == "send_text":
            for peer in targets:
                await actor.send_text(peer.identity, str(params.get("text", "")))
        else:
            raise CallprobeError(f"line {step.line}: unknown action {verb!r}")

    async def _expect(self, step: Expectation) -> Verdict:
        within = step.for_s if step.absent else step.within_s
        if within is None:
            within = self.settings.default_expect_within_s
        window = Window(self._anchor_ms, self._anchor_ms + within * 1000.0)
        given = step.for_s if step.absent else step.within_s
        self.timeline.record(Waiting(
            what=step.text, until_ms=window.deadline_ms, seconds=within,
            setting=("for" if step.absent else "within") if given is not None else "default_expect_within_s"))
        users = {name: a.user_id for name, a in self.agents.items()}
        changed = asyncio.Event()

        def wake(_: Event) -> None:
            changed.set()

        self.timeline.subscribe(wake)
        try:
            while True:
                changed.clear()
                now = self.timeline.now_ms()
                verdict = judge(step, self.timeline.events, window, now, users, self._findings)
                if verdict.state != PENDING:
                    return verdict
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(changed.wait(), max(0.001, (window.deadline_ms - now) / 1000.0))
        finally:
            self.timeline.unsubscribe(wake)

    def _findings(self, events: Sequence[Event]) -> list[Finding]:
        """The diagnostic rules on the run so far, as ``callprobe run`` reports them."""
        return findings_for_run(events, self.scenario)

    async def _play(self) -> None:
        steps = self.scenario.steps
        for index, step in enumerate(steps, start=1):
            who = getattr(step, "agent", None) or ",".join(getattr(step, "targets", ()) or ())
            if self.progress:
                self.progress(index, len(steps), step.text, who or "")
            self.timeline.record(StepStarted(line=step.line, step=step.text, index=index))
            began = self.timeline.now_ms()
            if isinstance(step, Expectation):
                verdict = await self._guarded(self._expect(step))
                passed = verdict.state == PASS
                self.timeline.record(ExpectationJudged(line=step.line, text=step.text, passed=passed,
                                                       detail=verdict.detail))
                now = self.timeline.now_ms()
                self.steps.append(StepResult(step.line, step.text, passed, verdict.detail,
                                             t_ms=now, duration_ms=now - began))
                continue
            if step.verb in CALL_START_VERBS and self._warm is not None and not self._warm.done():
                # a call's first peer must not wait for an import mid-call: that would show in its figures
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._warm)
            self._anchor_ms = self.timeline.now_ms()
            try:
                await self._guarded(self._act(step))
            except ServerUnreachable as exc:
                self.timeline.record(StepFinished(line=step.line, step=step.text, ok=False, error=str(exc)))
                now = self.timeline.now_ms()
                self.steps.append(StepResult(step.line, step.text, False, str(exc), kind="action",
                                             t_ms=now, duration_ms=now - began))
                raise
            except _PartyLostError:
                raise
            except Exception as exc:  # a failed action must not lose the run's report
                detail = str(exc) if isinstance(exc, CallprobeError) else f"{type(exc).__name__}: {exc}"
                self.timeline.record(StepFinished(line=step.line, step=step.text, ok=False, error=detail))
                now = self.timeline.now_ms()
                self.steps.append(StepResult(step.line, step.text, False, detail, kind="action",
                                             t_ms=now, duration_ms=now - began))
                if step.verb in ("connect", "reconnect"):
                    # nothing after a failed connection can be judged: stop here, not
                    # after every later expectation has waited out its window
                    raise _ConnectFailed(exc) from None
                continue
            self.timeline.record(StepFinished(line=step.line, step=step.text, ok=True))

    # ------------------------------------------------------------------ run

    async def run(self) -> RunResult:
        started = time.monotonic()
        aborted = ""
        self.timeline.record(RunStarted(scenario=self.scenario.name, file=self.scenario.file,
                                        backend=self.scenario.server.family))
        try:
            try:
                await self._start_gateway()
            except CallprobeError as exc:
                if exc.exit_code != ExitCode.SERVER_START_FAILED:
                    raise
                raise _StartFailed(exc) from None
            self._make_agents()
            self._warm = asyncio.create_task(self._warm_media())
            await self._start_agents()
            await self._play()
        except _StartFailed as failed:
            aborted = f"could not start the embedded server: {failed.cause}"
            self.start_failed = True
        except _PartyLostError as exc:
            aborted = str(exc)
        except ServerUnreachable as exc:
            aborted = f"{exc} ({exc.hint})" if exc.hint else str(exc)
            self.unreachable = True
            await self._probe_endpoints()
        except _ConnectFailed as failed:
            aborted = f"stopped after a failed connection: {failed.cause}"
            # no WebSocket answer at all, or not a KKIM gateway there: unreachable
            self.unreachable = _looks_unreachable(failed.cause)
            await self._probe_endpoints()
        except (asyncio.CancelledError, KeyboardInterrupt):
            aborted = INTERRUPTED  # a signal: the run_finished event says so, then the caller reports
            raise
        finally:
            await self._teardown()
            warm = self._warm
            if warm is not None:
                warm.cancel()  # done long ago when a call was placed; else no call needs the clips
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await warm
            self.timeline.record(RunFinished(aborted=aborted))
        return self.result(time.monotonic() - started, aborted)

    async def _probe_endpoints(self) -> None:
        """What answers at a remote --server/--api, so the findings can say why it failed."""
        if self.embedded or not self.ws_url or any(a.netns for a in self.scenario.agents.values()):
            return  # an address inside a network namespace cannot be asked from here
        with contextlib.suppress(Exception):
            await probe_endpoints(self.timeline, str(self.ws_url), str(self.api_url or ""))

    async def _warm_media(self) -> None:
        """Encode the synthetic clips while agents connect, not when a call connects.

        The media modules (aiortc, av, numpy) are imported in a worker thread,
        and only once the first login has been answered: an import holds the
        interpreter, and the first login must not wait for it. The first step
        that starts a call waits for this to finish (``CALL_START_VERBS``).
        """
        if not any(a.kind == "agent" for n, a in self.scenario.agents.items() if n not in self.remote_agents):
            return  # no simulated agent here: nothing to encode
        kinds = {"audio"} | {"video" for a in self.scenario.agents.values() if a.media == "video"}
        kinds |= {"video" for s in self.scenario.steps
                  if isinstance(s, Action) and s.params.get("media") == "video"}
        logged_in = asyncio.Event()

        def watch(event: Event) -> None:
            if isinstance(event, (LoginOk, LoginFailed)):
                logged_in.set()

        self.timeline.subscribe(watch)
        try:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(logged_in.wait(), WARM_AFTER_S)
        finally:
            self.timeline.unsubscribe(watch)
        await asyncio.to_thread(warm_clips, sorted(kinds))

    async def _teardown(self) -> None:
        # calls the scenario left open are cancelled or hung up, so the next run
        # finds no stale call state; metrics ignore what happens after this mark
        self.timeline.record(Note(note=TEARDOWN_NOTE, text="teardown: releasing open calls"))
        await asyncio.gather(*(a.release_calls() for a in self.agents.values()), return_exceptions=True)
        await asyncio.gather(*(a.close() for a in self.agents.values()), return_exceptions=True)
        if self._factory is not None:
            await self._factory.close()
        if self.remote is not None:
            with contextlib.suppress(Exception):
                await self.remote.close()
        if self._services is not None:
            with contextlib.suppress(Exception):
                await self._services.stop()
            self._services = None

    def result(self, duration_s: float, aborted: str = "") -> RunResult:
        events = self.timeline.events
        server = {"embedded": self.embedded, "ws_url": self.ws_url, "api_url": self.api_url,
                  **self._placement}
        return RunResult(
            scenario=self.scenario.name, file=self.scenario.file, server=server,
            duration_ms=duration_s * 1000.0, events=events, steps=list(self.steps),
            calls=derive_calls(events), aborted=aborted, unreachable=self.unreachable,
            start_failed=self.start_failed,
        )


class _StartFailed(Exception):
    def __init__(self, cause: CallprobeError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _PartyLostError(Exception):
    """A party callprobe plays (a browser, a remote agent) stopped answering mid-run."""


class _ConnectFailed(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _looks_unreachable(exc: BaseException) -> bool:
    """A handshake that timed out, or an HTTP answer with no KKIM refusal in it."""
    return looks_unreachable(exc)


def warm_clips(kinds: list[str]) -> None:
    """Import the media modules and encode the clips of ``kinds`` (call it in a worker thread)."""
    from callprobe.rtc.media import encode_clip

    for kind in kinds:
        encode_clip(kind)



async def run_scenario(scenario: Scenario, **kwargs: Any) -> RunResult:
    return await Runner(scenario, **kwargs).run()


__all__ = ["FAIL", "PASS", "RunResult", "Runner", "StepResult", "run_scenario"]

"""What a load run will do: the scenario as one call, the schedule, each worker's share.

A load run replays one scenario file: its agents and steps describe one call.
Each call is played by numbered users (``alice-000001``), so calls never share
a user (docs/load.md#users-and-calls). Two models (docs/load.md#closed-and-open-models):

- closed: ``pairs`` calls at a time; each pair places its next call as soon as
  the last one ends (its users keep their number), pairs started evenly over
  the ramp;
- open: new calls at ``rate`` per second whatever happens to earlier ones, the
  rate rising linearly from zero over the ramp (k6's ramping arrival rate).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from callprobe.backends.registry import family
from callprobe.engine.services import LOOPBACK_HOSTS
from callprobe.errors import ConfigError
from callprobe.scenario.model import Action, AgentConfig, Expectation, Scenario, Step

MEDIA_MODES = ("scenario", "none", "audio", "video")

#: Expectations that need WebRTC: dropped when a load run places no media.
MEDIA_EVENTS = ("ice_connected", "media_flowing")


@dataclass(frozen=True)
class LoadOptions:
    """A load run as the command line asked for it."""

    pairs: int | None = None             # closed model: calls at a time
    rate: float | None = None            # open model: new calls per second
    ramp_s: float = 0.0
    duration_s: float | None = None      # None (closed model): every pair places one call
    hold_s: float | None = None          # every wait step lasts this long
    media: str = "scenario"              # scenario | none | audio | video
    workers: int = 1
    grace_s: float = 30.0                # after the duration, calls in progress may finish this long
    max_active: int = 5000               # open model: calls one worker keeps going at once; more are dropped
    keep_failed: int = 20                # timelines of failed calls kept in the report
    keep_good: int = 5                   # ... and of good ones, sampled
    sample_every: int = 100              # a good call is sampled once in this many
    thresholds: tuple[str, ...] = ()
    abort_on_fail: bool = False
    server: str | None = None            # None: the embedded server
    api: str | None = None
    ray: str | None = None               # None: local worker processes; "auto" or a cluster address

    @property
    def model(self) -> str:
        return "open" if self.rate is not None else "closed"


@dataclass(frozen=True)
class WorkerPlan:
    """One worker's share of a load run: everything it needs, as plain picklable data."""

    index: int
    workers: int
    scenario: Scenario
    server: str
    api: str
    webrtc: bool
    model: str
    pairs: int
    rate: float
    ramp_s: float
    duration_s: float | None
    grace_s: float
    max_active: int
    keep_failed: int
    keep_good: int
    sample_every: int
    start_wall: float = 0.0
    register: bool = False               # the load run's own embedded server: create the accounts first
    notes: tuple[str, ...] = field(default=())

    def my_pairs(self) -> range:
        """The closed model's pairs this worker plays (0-based): every ``workers``-th."""
        return range(self.index, self.pairs, self.workers)


def arrival_time(k: int, rate: float, ramp_s: float) -> float:
    """Seconds after the start at which arrival ``k`` (0-based) is due.

    During the ramp the rate grows linearly from 0 to ``rate``, so ``rate *
    ramp_s / 2`` calls arrive in it; after it, one every ``1/rate`` s.
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    if ramp_s <= 0:
        return k / rate
    in_ramp = rate * ramp_s / 2.0
    if k < in_ramp:
        return math.sqrt(2.0 * k * ramp_s / rate)
    return ramp_s + (k - in_ramp) / rate


def pair_start(j: int, pairs: int, ramp_s: float) -> float:
    """Seconds after the start at which closed-model pair ``j`` (0-based) places its first call."""
    return ramp_s * j / pairs if pairs else 0.0


def user_number(number: int) -> str:
    return f"{number:06d}"


def numbered(scenario: Scenario, number: int) -> Scenario:
    """``scenario`` played by users numbered ``number``: ``alice`` becomes ``alice-000001``.

    Agents that share a user (two devices of one user) keep sharing it.
    """
    suffix = "-" + user_number(number)
    agents = {name: dataclasses.replace(cfg, user_id=cfg.user_id + suffix,
                                        nickname=(cfg.nickname + suffix) if cfg.nickname else "")
              for name, cfg in scenario.agents.items()}
    return dataclasses.replace(scenario, agents=agents)


def require_driver(family_name: str) -> None:
    """The family's driver can be loaded (through the registry), or a ``ConfigError`` says it has none yet."""
    fam = family(family_name)
    try:
        fam.module("driver")
    except ModuleNotFoundError:
        raise ConfigError(f"the {fam.title} ({fam.name}) has no driver in this version of callprobe: "
                          "its calls cannot be placed yet") from None


def prepare(scenario: Scenario, *, media: str = "scenario", hold_s: float | None = None,
            loopback: bool = False) -> tuple[Scenario, tuple[str, ...]]:
    """The scenario as a load run plays it, and notes saying what was changed.

    ``media``: force every call's media (``audio``/``video``), or signal
    without WebRTC (``none``: ICE and media expectations are dropped).
    ``hold_s``: every ``wait`` step lasts this long (a wait is added before the
    first hang-up when there is none). ``loopback``: agents gather ICE
    candidates on loopback only, as beside the embedded server.

    Raises:
        ConfigError: the scenario cannot be numbered or replayed.
    """
    require_driver(scenario.server.family)
    if media not in MEDIA_MODES:
        raise ConfigError(f"--media must be one of {', '.join(MEDIA_MODES[1:])}, not {media!r}")
    if scenario.server.login.mode == "fixed":
        raise ConfigError(f"{scenario.file}: login mode 'fixed' gives each agent one token; a load run numbers "
                          "its users, so it needs a login that makes tokens (admin_user_token, user_token, custom)")
    if scenario.needs_coturn:
        raise ConfigError(f"{scenario.file}: ice.embedded_servers starts coturn for one run; a load run starts "
                          "none", hint="run coturn once yourself and list it under ice.servers")
    if not any(isinstance(s, Action) and s.verb == "invite" for s in scenario.steps):
        raise ConfigError(f"{scenario.file}: a load run replays one call; this scenario places none (no invite step)")
    notes: list[str] = []
    agents = dict(scenario.agents)
    steps: list[Step] = list(scenario.steps)
    if media in ("audio", "video"):
        agents = {n: dataclasses.replace(a, media=media) for n, a in agents.items()}
        steps = [dataclasses.replace(s, params={**s.params, "media": media})
                 if isinstance(s, Action) and s.verb == "invite" else s for s in steps]
        notes.append(f"every call is an {media} call (--media {media})")
    elif media == "none":
        dropped = [s for s in steps if isinstance(s, Expectation) and s.event in MEDIA_EVENTS]
        steps = [s for s in steps if s not in dropped]
        notes.append("signaling only (--media none): no WebRTC"
                     + (f"; {len(dropped)} ICE/media expectation(s) not judged" if dropped else ""))
    if hold_s is not None:
        waits = [i for i, s in enumerate(steps) if isinstance(s, Action) and s.verb == "wait"]
        if waits:
            for i in waits:
                step = steps[i]
                assert isinstance(step, Action)
                steps[i] = dataclasses.replace(step, params={**step.params, "duration_s": hold_s},
                                               text=f"wait: {hold_s:g}s (--hold)")
        else:
            hang = next((i for i, s in enumerate(steps) if isinstance(s, Action) and s.verb == "hangup"), None)
            if hang is None:
                raise ConfigError(f"{scenario.file}: --hold sets how long a call is held, but the scenario has "
                                  "neither a wait nor a hangup step")
            line = steps[hang].line
            steps.insert(hang, Action(line=line, text=f"wait: {hold_s:g}s (--hold)", verb="wait",
                                      params={"duration_s": hold_s}))
        notes.append(f"calls are held {hold_s:g} s (--hold)")
    out = dataclasses.replace(scenario, agents=agents, steps=tuple(steps))
    if loopback:
        out = on_loopback(out)
    return out, tuple(notes)


def on_loopback(scenario: Scenario) -> Scenario:
    """Agents beside an embedded server gather on loopback, as ``engine.services.agent_ice`` does for ``run``."""
    ice = scenario.ice
    if ice.host_addresses is None:
        ice = dataclasses.replace(ice, host_addresses=LOOPBACK_HOSTS)
    agents: dict[str, AgentConfig] = {}
    for name, cfg in scenario.agents.items():
        own = cfg.ice
        if cfg.netns is None and own is not None and own.host_addresses is None:
            own = dataclasses.replace(own, host_addresses=LOOPBACK_HOSTS)
        agents[name] = dataclasses.replace(cfg, ice=own)
    return dataclasses.replace(scenario, ice=ice, agents=agents)

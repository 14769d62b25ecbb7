"""The load plan: numbered users, the scenario as a load run plays it, the arrival schedule."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from callprobe.engine.load.plan import arrival_time, numbered, pair_start, prepare
from callprobe.errors import ConfigError
from callprobe.scenario.loader import load_scenario
from callprobe.scenario.model import Action, Expectation, LoginConfig
from tests.paths import SCENARIOS


def test_arrivals_without_a_ramp_come_every_one_over_rate() -> None:
    assert [arrival_time(k, 20.0, 0.0) for k in range(3)] == [0.0, 0.05, 0.1]


def test_a_ramp_brings_half_the_calls_of_full_rate_and_then_the_rate() -> None:
    rate, ramp = 10.0, 30.0
    times = [arrival_time(k, rate, ramp) for k in range(400)]
    assert times == sorted(times)
    assert sum(1 for t in times if t < ramp) == pytest.approx(rate * ramp / 2, abs=1)
    after = [t for t in times if t >= ramp]
    assert after[1] - after[0] == pytest.approx(1 / rate)
    # the rate grows: the gaps shrink through the ramp
    assert times[2] - times[1] > times[100] - times[99]


def test_pairs_start_evenly_over_the_ramp() -> None:
    assert [pair_start(j, 4, 8.0) for j in range(4)] == [0.0, 2.0, 4.0, 6.0]


def test_numbered_users_keep_devices_of_one_user_together() -> None:
    scenario = load_scenario(SCENARIOS / "two-devices.yaml")
    users = {n: a.user_id for n, a in numbered(scenario, 42).agents.items()}
    assert all(u.endswith("-000042") for u in users.values())
    assert len(set(users.values())) == len({a.user_id for a in scenario.agents.values()})


def test_media_none_drops_what_needs_webrtc_and_says_so() -> None:
    scenario, notes = prepare(load_scenario(SCENARIOS / "basic.yaml"), media="none")
    events = [s.event for s in scenario.steps if isinstance(s, Expectation)]
    assert "ice_connected" not in events and "media_flowing" not in events and "ringing" in events
    assert "2 ICE/media expectation(s) not judged" in notes[0]


def test_media_audio_makes_every_call_an_audio_call() -> None:
    scenario, _ = prepare(load_scenario(SCENARIOS / "basic.yaml"), media="audio")
    assert {a.media for a in scenario.agents.values()} == {"audio"}
    assert [s.params["media"] for s in scenario.steps if isinstance(s, Action) and s.verb == "invite"] == ["audio"]


def test_hold_sets_every_wait_or_adds_one_before_the_hangup() -> None:
    scenario, _ = prepare(load_scenario(SCENARIOS / "basic.yaml"), hold_s=7.0)
    waits = [s for s in scenario.steps if isinstance(s, Action) and s.verb == "wait"]
    assert [w.params["duration_s"] for w in waits] == [7.0]
    base = load_scenario(SCENARIOS / "basic.yaml")
    no_wait = dataclasses.replace(base, steps=tuple(s for s in base.steps
                                                    if not (isinstance(s, Action) and s.verb == "wait")))
    held, _ = prepare(no_wait, hold_s=3.0)
    verbs = [s.verb for s in held.steps if isinstance(s, Action)]
    assert verbs[verbs.index("hangup") - 1] == "wait"


def test_loopback_keeps_candidates_beside_the_embedded_server() -> None:
    scenario, _ = prepare(load_scenario(SCENARIOS / "basic.yaml"), loopback=True)
    assert scenario.ice.host_addresses == ("127.0.0.1",)


def test_scenarios_a_load_run_cannot_replay_are_refused(tmp_path: Path) -> None:
    base = load_scenario(SCENARIOS / "basic.yaml")
    fixed = dataclasses.replace(base, server=dataclasses.replace(base.server, login=LoginConfig(mode="fixed")))
    with pytest.raises(ConfigError, match="fixed"):
        prepare(fixed)
    with pytest.raises(ConfigError, match="embedded_servers"):
        prepare(dataclasses.replace(base, embedded_ice=("turn",)))
    no_call = dataclasses.replace(base, steps=tuple(s for s in base.steps
                                                    if not (isinstance(s, Action) and s.verb == "invite")))
    with pytest.raises(ConfigError, match="no invite"):
        prepare(no_call)
    with pytest.raises(ConfigError, match="--media"):
        prepare(base, media="smoke")


@pytest.mark.parametrize("family_name", ["kkim", "socketio", "rooms"])
def test_a_load_run_lifts_the_limits_its_family_names(family_name: str) -> None:
    from callprobe.backends.base import EmbeddedConfig
    from callprobe.backends.registry import family

    module = family(family_name).module("server")
    plain = module.embedded(EmbeddedConfig())
    loaded = module.embedded(EmbeddedConfig(load=True))
    assert module.LOAD_LIMITS, "a family says what a load run lifts"
    for name, value in module.LOAD_LIMITS.items():
        assert getattr(loaded.settings, name) == value
        assert getattr(plain.settings, name) != value


def test_a_family_without_a_driver_is_named_before_anything_starts() -> None:
    from callprobe.backends.registry import FAMILIES

    base = load_scenario(SCENARIOS / "basic.yaml")
    for name, fam in FAMILIES.items():
        scenario = dataclasses.replace(base, server=dataclasses.replace(base.server, family=name))
        try:
            fam.module("driver")
        except ModuleNotFoundError:
            with pytest.raises(ConfigError, match="no driver"):
                prepare(scenario)
        else:
            prepare(scenario)  # every family with a driver is loadable the same way

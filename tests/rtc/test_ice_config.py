"""IceConfig validation and its conversion to aiortc's configuration."""

from __future__ import annotations

import dataclasses

import pytest
from aiortc import RTCBundlePolicy, RTCIceTransportPolicy

from callprobe.errors import ConfigError
from callprobe.rtc.ice_config import (
    IceConfig,
    IceServer,
    parse_ice_url,
    to_rtc_configuration,
)


def test_empty_config_still_passes_an_explicit_empty_server_list() -> None:
    config = to_rtc_configuration(IceConfig())
    assert config.iceServers == []          # never None: aiortc would add a public STUN server
    assert config.iceTransportPolicy == RTCIceTransportPolicy.ALL
    assert config.bundlePolicy == RTCBundlePolicy.MAX_BUNDLE


def test_relay_only_and_servers_are_converted() -> None:
    ice = IceConfig(servers=(IceServer(("stun:127.0.0.1:3478",)),
                             IceServer(("turn:127.0.0.1:3478?transport=tcp",), "u", "p")),
                    relay_only=True)
    config = to_rtc_configuration(ice)
    assert config.iceTransportPolicy == RTCIceTransportPolicy.RELAY
    assert config.iceServers is not None
    assert [s.urls for s in config.iceServers] == [["stun:127.0.0.1:3478"],
                                                   ["turn:127.0.0.1:3478?transport=tcp"]]
    assert (config.iceServers[1].username, config.iceServers[1].credential) == ("u", "p")
    assert ice.has_turn


def test_describe_never_shows_the_credential() -> None:
    ice = IceConfig(servers=(IceServer(("turn:10.0.0.1",), "user", "s3cret"),))
    described = ice.describe()
    assert "s3cret" not in repr(described)
    assert described["ice_servers"] == [{"urls": ["turn:10.0.0.1"], "username": "user"}]


def test_ignored_urls_follow_aiortc_one_stun_one_turn_rule() -> None:
    ice = IceConfig(servers=(
        IceServer(("stuns:a.example", "stun:b.example", "stun:c.example")),
        IceServer(("turns:t.example?transport=udp", "turn:t1.example", "turn:t2.example"), "u", "p"),
    ))
    assert ice.used_urls() == ["stun:b.example", "turn:t1.example"]
    assert ice.ignored_urls() == ["stuns:a.example", "stun:c.example",
                                  "turns:t.example?transport=udp", "turn:t2.example"]


def test_host_addresses_are_normalized_and_deduplicated() -> None:
    ice = IceConfig(host_addresses=("127.0.0.1", "::0001", "127.0.0.1"))
    assert ice.host_addresses == ("127.0.0.1", "::1")
    assert IceConfig(host_addresses="127.0.0.1").host_addresses == ("127.0.0.1",)  # type: ignore[arg-type]
    assert dataclasses.replace(IceConfig(), host_addresses=("127.0.0.1",)).host_addresses == ("127.0.0.1",)


@pytest.mark.parametrize("addresses, message", [
    (("localhost",), "'localhost' is not an IP address"),
    ((), "host_addresses is empty"),
])
def test_bad_host_addresses_are_refused(addresses: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        IceConfig(host_addresses=addresses)


@pytest.mark.parametrize("url, message", [
    ("http://example.com", "is not of the form"),
    ("stun:[::1]:3478", "is not of the form"),
    ("stun:example.com?transport=udp", "STUN URLs take no"),
    ("turn:example.com:70000", "port out of range"),
    ("turn:example.com?transport=sctp", "is not of the form"),
])
def test_bad_urls_are_refused_with_the_url(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        IceServer((url,), "u", "p")
    assert url in str(caught.value)


def test_turn_needs_credentials_and_a_server_needs_urls() -> None:
    with pytest.raises(ConfigError, match="needs a username and a credential"):
        IceServer(("turn:127.0.0.1",))
    with pytest.raises(ConfigError, match="no URLs"):
        IceServer(())
    assert IceServer("stun:127.0.0.1").urls == ("stun:127.0.0.1",)  # type: ignore[arg-type]


def test_parse_ice_url_parts() -> None:
    assert parse_ice_url("turn:relay.example:443?transport=tcp") == {
        "scheme": "turn", "host": "relay.example", "port": "443", "transport": "tcp"}
    assert parse_ice_url("stun:127.0.0.1") == {"scheme": "stun", "host": "127.0.0.1"}

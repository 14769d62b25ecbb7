"""The NAT lab plan, pure: names, addresses, commands and NAT-mode flags."""

from __future__ import annotations

import ipaddress

import pytest

from callprobe.net.lab.topology import (
    BRIDGE,
    HOSTS,
    NAMESPACES,
    PUBLIC_ADDRESS,
    PUBLIC_NAMESPACE,
    PUBLIC_SUBNET,
    SIDES,
    LabPlan,
    NatMode,
    namespace_of,
)

PLANS = [LabPlan(a, b) for a in NatMode for b in NatMode]


def test_defaults_are_symmetric_caller_and_port_restricted_callee() -> None:
    plan = LabPlan()
    assert plan.modes == {"caller": NatMode.SYMMETRIC, "callee": NatMode.PORT_RESTRICTED}


def test_hosts_and_namespaces() -> None:
    assert PUBLIC_ADDRESS == "198.51.100.1"
    assert {n: (h.namespace, h.address) for n, h in HOSTS.items()} == {
        "caller": ("cplab-caller", "10.201.1.2"),
        "callee": ("cplab-callee", "10.201.2.2"),
        "public": ("cplab-public", "198.51.100.1"),
    }
    assert namespace_of("callee") == "cplab-callee"
    assert set(NAMESPACES) == {"cplab-public", "cplab-caller-nat", "cplab-caller",
                               "cplab-callee-nat", "cplab-callee"}


def test_unknown_host_is_named() -> None:
    with pytest.raises(ValueError, match="unknown NAT lab host 'router': expected one of caller, callee, public"):
        namespace_of("router")
    with pytest.raises(ValueError, match="unknown NAT lab side 'public'"):
        LabPlan().nat_mode("public")


def test_no_duplicate_addresses_and_every_address_in_its_subnet() -> None:
    addresses = LabPlan().addresses()
    assert len({a.address for a in addresses}) == len(addresses)
    public = ipaddress.ip_network(PUBLIC_SUBNET)
    for side in SIDES:
        lan = ipaddress.ip_network(side.lan_subnet)
        assert ipaddress.ip_address(side.wan_address) in public
        assert ipaddress.ip_address(side.lan_router) in lan
        assert ipaddress.ip_address(side.host_address) in lan
        assert not lan.overlaps(public)
    assert not ipaddress.ip_network(SIDES[0].lan_subnet).overlaps(ipaddress.ip_network(SIDES[1].lan_subnet))
    assert {a.cidr for a in addresses} == {
        "198.51.100.1/24", "198.51.100.11/24", "10.201.1.1/24", "10.201.1.2/24",
        "198.51.100.12/24", "10.201.2.1/24", "10.201.2.2/24"}


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: f"{p.caller_nat}-{p.callee_nat}")
def test_nat_mode_flags(plan: LabPlan) -> None:
    cmds = plan.up_commands()
    for side in SIDES:
        masquerade = [c for c in cmds if c[:4] == ["ip", "netns", "exec", side.nat_namespace]
                      and "MASQUERADE" in c]
        assert len(masquerade) == 1
        assert masquerade[0][4:] == ["iptables", "-t", "nat", "-A", "POSTROUTING", "-s", side.lan_subnet,
                                     "-o", "cplab-wan", "-j", "MASQUERADE"] + (
            ["--random-fully"] if plan.nat_mode(side.role) is NatMode.SYMMETRIC else [])


def test_wan_filtering_accepts_replies_and_drops_the_rest() -> None:
    for side in SIDES:
        rules = [" ".join(c[4:]) for c in LabPlan().up_commands()
                 if c[:5] == ["ip", "netns", "exec", side.nat_namespace, "iptables"] and "filter" in c]
        assert rules == [
            "iptables -t filter -A INPUT -i cplab-wan -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            "iptables -t filter -A INPUT -i cplab-wan -j DROP",
            "iptables -t filter -A FORWARD -i cplab-wan -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            "iptables -t filter -A FORWARD -i cplab-wan -j DROP",
        ]


def test_nat_routers_forward_hosts_route_through_them_public_has_a_default_route() -> None:
    cmds = LabPlan().up_commands()
    for side in SIDES:
        assert ["ip", "netns", "exec", side.nat_namespace, "sysctl", "-qw", "net.ipv4.ip_forward=1"] in cmds
        assert ["ip", "-n", side.host_namespace, "route", "add", "default", "via", side.lan_router] in cmds
    assert ["ip", "-n", PUBLIC_NAMESPACE, "route", "add", "default", "dev", BRIDGE] in cmds


def test_nothing_is_configured_in_the_root_namespace() -> None:
    """Every command names a namespace: ``ip -n NS``, ``ip netns exec NS`` or ``ip netns add``."""
    cmds = LabPlan().up_commands()
    assert cmds[:len(NAMESPACES)] == [["ip", "netns", "add", ns] for ns in NAMESPACES]
    for cmd in cmds:
        assert cmd[0] == "ip"
        if cmd[1] == "-n" or cmd[1:3] == ["netns", "exec"]:
            namespace = cmd[2] if cmd[1] == "-n" else cmd[3]
        else:
            assert cmd[1:3] == ["netns", "add"]
            namespace = cmd[3]
        assert namespace in NAMESPACES
        if "veth" in cmd:   # both ends are born inside namespaces
            assert cmd[cmd.index("netns", 3) + 1] in NAMESPACES


def test_names_are_prefixed_and_fit_linux_interface_names() -> None:
    plan = LabPlan()
    names = {a.interface for a in plan.addresses()} | {n for ns in plan.up_links().values() for n in ns}
    for name in names - {"lo"}:
        assert name.startswith("cplab-") and len(name) <= 15, name
    assert all(ns.startswith("cplab-") for ns in NAMESPACES)


def test_every_address_is_configured_by_a_command() -> None:
    plan = LabPlan()
    cmds = plan.up_commands()
    for a in plan.addresses():
        assert ["ip", "-n", a.namespace, "addr", "add", a.cidr, "dev", a.interface] in cmds


def test_down_removes_the_namespaces_in_reverse_order() -> None:
    assert LabPlan.down_commands() == [["ip", "netns", "del", ns] for ns in reversed(NAMESPACES)]
    assert LabPlan.down_commands(("cplab-public",)) == [["ip", "netns", "del", "cplab-public"]]

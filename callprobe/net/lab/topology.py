"""The NAT lab's fixed topology and the commands that build and remove it.

Pure: no subprocess, no file access. ``LabPlan`` turns two NAT modes into the
``ip``/``iptables`` argv lists that ``callprobe.net.lab.builder`` runs, and into
the addresses, routes and rules that ``callprobe.net.lab.status`` expects to find.

Layout (every name starts with ``cplab-``)::

    cplab-caller 10.201.1.2 ── cplab-caller-nat 10.201.1.1 | 198.51.100.11 ──┐
                                                                           cplab-br0 198.51.100.1
    cplab-callee 10.201.2.2 ── cplab-callee-nat 10.201.2.1 | 198.51.100.12 ──┘  (cplab-public)

Only the namespaces themselves exist in the root namespace: each veth pair is
created with its two ends already inside their namespaces (``ip -n A link add
X type veth peer name Y netns B``), and the bridge lives in ``cplab-public``.
198.51.100.0/24 is TEST-NET-2 (RFC 5737), so the "public internet" of the lab
can never be confused with a real one.

NAT behaviour (RFC 4787 terms), both on Linux conntrack:

* ``port-restricted``: plain MASQUERADE keeps the source port when it can, so
  the mapping is endpoint-independent; conntrack only lets replies in from the
  exact address and port a packet went to (address-and-port-dependent
  filtering), because everything else arriving on the WAN is dropped.
* ``symmetric``: ``MASQUERADE --random-fully`` picks a new random port for each
  new destination: the port a STUN server sees is useless to any other peer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class NatMode(StrEnum):
    """How a side's NAT router maps and filters UDP."""

    SYMMETRIC = "symmetric"
    PORT_RESTRICTED = "port-restricted"


PREFIX = "cplab-"

PUBLIC_NAMESPACE = "cplab-public"
PUBLIC_SUBNET = "198.51.100.0/24"      # TEST-NET-2, RFC 5737
PUBLIC_ADDRESS = "198.51.100.1"        # the bridge's address: gateway and coturn run here
PUBLIC_PREFIXLEN = 24
BRIDGE = "cplab-br0"                   # in cplab-public

#: interface names inside the namespaces (names are per namespace, so both
#: NAT routers can use the same ones)
WAN_IF = "cplab-wan"                   # NAT router, towards the bridge
LAN_IF = "cplab-lan"                   # NAT router, towards its host
HOST_IF = "cplab-eth0"                 # the host behind a NAT

DEFAULT_CALLER_NAT = NatMode.SYMMETRIC
DEFAULT_CALLEE_NAT = NatMode.PORT_RESTRICTED


@dataclass(frozen=True)
class Side:
    """One private network: a host behind its NAT router."""

    role: str                # "caller" | "callee"
    host_namespace: str
    nat_namespace: str
    bridge_port: str         # the WAN veth's other end, a port of BRIDGE
    wan_address: str         # on the public segment
    lan_subnet: str
    lan_router: str          # the NAT router's LAN address = the host's gateway
    host_address: str
    lan_prefixlen: int = 24


SIDES: tuple[Side, ...] = (
    Side("caller", "cplab-caller", "cplab-caller-nat", "cplab-p-caller",
         "198.51.100.11", "10.201.1.0/24", "10.201.1.1", "10.201.1.2"),
    Side("callee", "cplab-callee", "cplab-callee-nat", "cplab-p-callee",
         "198.51.100.12", "10.201.2.0/24", "10.201.2.1", "10.201.2.2"),
)
SIDE_BY_ROLE: Mapping[str, Side] = {side.role: side for side in SIDES}

#: every namespace of the lab, in the order they are created
NAMESPACES: tuple[str, ...] = (PUBLIC_NAMESPACE,) + tuple(
    ns for side in SIDES for ns in (side.nat_namespace, side.host_namespace))


@dataclass(frozen=True)
class LabHost:
    """Where a scenario agent (or a server) can be placed."""

    name: str
    namespace: str
    address: str
    gateway: str | None      # None: the public host routes everything onto the bridge


HOSTS: Mapping[str, LabHost] = {
    **{side.role: LabHost(side.role, side.host_namespace, side.host_address, side.lan_router)
       for side in SIDES},
    "public": LabHost("public", PUBLIC_NAMESPACE, PUBLIC_ADDRESS, None),
}


def namespace_of(host: str) -> str:
    """The namespace of a lab host ("caller", "callee" or "public").

    Raises:
        ValueError: ``host`` is not one of ``HOSTS``.
    """
    try:
        return HOSTS[host].namespace
    except KeyError:
        known = ", ".join(HOSTS)
        raise ValueError(f"unknown NAT lab host {host!r}: expected one of {known}") from None


@dataclass(frozen=True)
class Address:
    """An IPv4 address expected on an interface (``ip addr`` terms)."""

    namespace: str
    interface: str
    address: str
    prefixlen: int

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.prefixlen}"


def _ip(namespace: str, *args: str) -> list[str]:
    return ["ip", "-n", namespace, *args]


def _in(namespace: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", namespace, *args]


@dataclass(frozen=True)
class LabPlan:
    """The lab for one choice of NAT modes; produces commands and expectations."""

    caller_nat: NatMode = DEFAULT_CALLER_NAT
    callee_nat: NatMode = DEFAULT_CALLEE_NAT

    def nat_mode(self, role: str) -> NatMode:
        if role not in SIDE_BY_ROLE:
            raise ValueError(f"unknown NAT lab side {role!r}: expected caller or callee")
        return self.caller_nat if role == "caller" else self.callee_nat

    @property
    def modes(self) -> dict[str, NatMode]:
        return {side.role: self.nat_mode(side.role) for side in SIDES}

    # -- expectations ------------------------------------------------------

    def addresses(self) -> list[Address]:
        """Every IPv4 address the lab configures (loopbacks aside)."""
        out = [Address(PUBLIC_NAMESPACE, BRIDGE, PUBLIC_ADDRESS, PUBLIC_PREFIXLEN)]
        for side in SIDES:
            out += [Address(side.nat_namespace, WAN_IF, side.wan_address, PUBLIC_PREFIXLEN),
                    Address(side.nat_namespace, LAN_IF, side.lan_router, side.lan_prefixlen),
                    Address(side.host_namespace, HOST_IF, side.host_address, side.lan_prefixlen)]
        return out

    def up_links(self) -> dict[str, list[str]]:
        """Interfaces that must be up, per namespace."""
        out = {PUBLIC_NAMESPACE: ["lo", BRIDGE] + [side.bridge_port for side in SIDES]}
        for side in SIDES:
            out[side.nat_namespace] = ["lo", WAN_IF, LAN_IF]
            out[side.host_namespace] = ["lo", HOST_IF]
        return out

    def routes(self) -> dict[str, list[str]]:
        """Default routes per namespace, as ``status.route_text`` spells them."""
        out = {PUBLIC_NAMESPACE: [f"default dev {BRIDGE}"]}
        for side in SIDES:
            out[side.host_namespace] = [f"default via {side.lan_router} dev {HOST_IF}"]
        return out

    def nat_rule(self, role: str) -> str:
        """The POSTROUTING rule of a side's NAT, as ``iptables-save`` prints it."""
        side = SIDE_BY_ROLE[role]
        rule = f"-A POSTROUTING -s {side.lan_subnet} -o {WAN_IF} -j MASQUERADE"
        return rule + " --random-fully" if self.nat_mode(role) is NatMode.SYMMETRIC else rule

    @staticmethod
    def filter_rules() -> list[str]:
        """WAN filtering of every NAT router: only replies to what went out get in."""
        return [f"-A {chain} -i {WAN_IF} {match}"
                for chain in ("INPUT", "FORWARD")
                for match in ("-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "-j DROP")]

    def rules(self, role: str) -> dict[str, list[str]]:
        """iptables rules per table of a side's NAT router."""
        return {"nat": [self.nat_rule(role)], "filter": self.filter_rules()}

    # -- commands ----------------------------------------------------------

    def up_commands(self) -> list[list[str]]:
        """argv lists that build the lab from nothing, in order."""
        cmds: list[list[str]] = [["ip", "netns", "add", ns] for ns in NAMESPACES]
        cmds += [_ip(ns, "link", "set", "lo", "up") for ns in NAMESPACES]
        cmds += [
            _ip(PUBLIC_NAMESPACE, "link", "add", BRIDGE, "type", "bridge"),
            _ip(PUBLIC_NAMESPACE, "addr", "add", f"{PUBLIC_ADDRESS}/{PUBLIC_PREFIXLEN}", "dev", BRIDGE),
            _ip(PUBLIC_NAMESPACE, "link", "set", BRIDGE, "up"),
            # coturn drops allocations with "Network unreachable" without a default route
            _ip(PUBLIC_NAMESPACE, "route", "add", "default", "dev", BRIDGE),
        ]
        for side in SIDES:
            nat, host = side.nat_namespace, side.host_namespace
            cmds += [
                _ip(PUBLIC_NAMESPACE, "link", "add", side.bridge_port, "type", "veth",
                    "peer", "name", WAN_IF, "netns", nat),
                _ip(PUBLIC_NAMESPACE, "link", "set", side.bridge_port, "master", BRIDGE, "up"),
                _ip(nat, "addr", "add", f"{side.wan_address}/{PUBLIC_PREFIXLEN}", "dev", WAN_IF),
                _ip(nat, "link", "set", WAN_IF, "up"),
                _ip(nat, "link", "add", LAN_IF, "type", "veth", "peer", "name", HOST_IF, "netns", host),
                _ip(nat, "addr", "add", f"{side.lan_router}/{side.lan_prefixlen}", "dev", LAN_IF),
                _ip(nat, "link", "set", LAN_IF, "up"),
                _ip(host, "addr", "add", f"{side.host_address}/{side.lan_prefixlen}", "dev", HOST_IF),
                _ip(host, "link", "set", HOST_IF, "up"),
                _ip(host, "route", "add", "default", "via", side.lan_router),
                _in(nat, "sysctl", "-qw", "net.ipv4.ip_forward=1"),
            ]
            for table, rules in self.rules(side.role).items():
                cmds += [_in(nat, "iptables", "-t", table, *rule.split()) for rule in rules]
        return cmds

    @staticmethod
    def down_commands(present: tuple[str, ...] = NAMESPACES) -> list[list[str]]:
        """argv lists that remove the given namespaces (deleting a namespace
        destroys its interfaces, veth peers and iptables rules with it)."""
        return [["ip", "netns", "del", ns] for ns in reversed(present)]

"""What the NAT lab looks like right now, judged against its plan.

Pure: ``callprobe.net.lab.builder`` gathers the raw output of ``ip -j addr``,
``ip -j route``, ``iptables-save`` and the ``ip_forward`` sysctl into an
``Observed``; ``assess`` turns it into a ``LabStatus`` with one named check per
expected fact, so "partial" always says which part is missing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from callprobe.net.lab.topology import (
    HOSTS,
    NAMESPACES,
    SIDES,
    LabPlan,
    NatMode,
)

LabState = Literal["up", "partial", "down"]


@dataclass(frozen=True)
class Interface:
    """One interface as ``ip -j addr show`` reports it."""

    name: str
    up: bool
    addresses: tuple[str, ...] = ()        # IPv4 "a.b.c.d/len"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool


@dataclass(frozen=True)
class Observed:
    """Raw facts about the lab, gathered by the builder."""

    namespaces: frozenset[str] = frozenset()                 # cplab-* namespaces present
    links: Mapping[str, Sequence[Interface]] = field(default_factory=dict)       # per namespace
    routes: Mapping[str, Sequence[str]] = field(default_factory=dict)       # per namespace, route_text
    rules: Mapping[str, Mapping[str, Sequence[str]]] = field(default_factory=dict)  # ns -> table -> "-A ..."
    ip_forward: Mapping[str, bool] = field(default_factory=dict)            # per NAT namespace
    root_strays: tuple[str, ...] = ()                        # cplab-* links in the root namespace
    recorded: LabPlan | None = None                          # modes from the state file
    state_file: str | None = None                            # its path, when it exists


@dataclass(frozen=True)
class LabStatus:
    """The lab's state: "up" when every check passes, "down" when nothing of it exists."""

    state: LabState
    present: Mapping[str, bool]                              # namespace -> exists
    addresses: Mapping[str, tuple[str, ...]]                 # namespace -> IPv4 addresses found
    nat_modes: Mapping[str, NatMode | None]                  # side -> mode its rules implement
    checks: tuple[Check, ...]
    root_strays: tuple[str, ...] = ()
    state_file: str | None = None
    changed: bool = False                                    # set by ``up`` when it built the lab

    @property
    def problems(self) -> list[str]:
        return [c.name for c in self.checks if not c.ok]

    @property
    def plan(self) -> LabPlan | None:
        """The plan matching the NAT rules found, when both sides have one."""
        caller, callee = self.nat_modes.get("caller"), self.nat_modes.get("callee")
        return None if caller is None or callee is None else LabPlan(caller, callee)

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "namespaces": {ns: {"present": self.present.get(ns, False),
                                "addresses": list(self.addresses.get(ns, ()))} for ns in NAMESPACES},
            "hosts": {name: {"namespace": h.namespace, "address": h.address,
                             "nat": _mode(self.nat_modes.get(name))} for name, h in HOSTS.items()},
            "nat": {role: _mode(mode) for role, mode in self.nat_modes.items()},
            "checks": [{"name": c.name, "ok": c.ok} for c in self.checks],
            "problems": self.problems,
            "root_strays": list(self.root_strays),
            "state_file": self.state_file,
        }


def _mode(mode: NatMode | None) -> str | None:
    return None if mode is None else mode.value


# -- parsers of tool output ---------------------------------------------------

def parse_interfaces(text: str) -> list[Interface]:
    """``ip -j addr show`` output -> links with their IPv4 addresses.

    Raises:
        ValueError: the text is not the JSON list ``ip -j`` prints.
    """
    data = _json_list(text, "ip -j addr show")
    out = []
    for item in data:
        addrs = tuple(f"{a['local']}/{a['prefixlen']}" for a in item.get("addr_info", ())
                      if a.get("family") == "inet" and "local" in a)
        out.append(Interface(str(item.get("ifname", "?")), "UP" in item.get("flags", ()), addrs))
    return out


def parse_routes(text: str) -> list[str]:
    """``ip -j route show`` output -> routes as "DST [via GW] dev DEV"."""
    return [route_text(item) for item in _json_list(text, "ip -j route show")]


def route_text(item: Mapping[str, Any]) -> str:
    words = [str(item.get("dst", "?"))]
    if "gateway" in item:
        words += ["via", str(item["gateway"])]
    if "dev" in item:
        words += ["dev", str(item["dev"])]
    return " ".join(words)


def parse_iptables_save(text: str) -> dict[str, list[str]]:
    """``iptables-save`` output -> table -> its "-A ..." rules, normalised."""
    tables: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("*"):
            current = tables.setdefault(line[1:], [])
        elif line.startswith("-A ") and current is not None:
            current.append(normalise_rule(line))
    return tables


def normalise_rule(rule: str) -> str:
    """Sort comma lists after ``--ctstate``: iptables versions print them in different orders."""
    words = rule.split()
    for i, word in enumerate(words[:-1]):
        if word == "--ctstate":
            words[i + 1] = ",".join(sorted(words[i + 1].split(",")))
    return " ".join(words)


def parse_root_links(text: str, prefix: str) -> tuple[str, ...]:
    """``ip -o link show`` output -> names of links starting with ``prefix``."""
    out = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            name = parts[1].strip().split("@", 1)[0]
            if name.startswith(prefix):
                out.append(name)
    return tuple(out)


def parse_netns_list(text: str, prefix: str) -> frozenset[str]:
    """``ip netns list`` output ("NAME (id: N)" lines) -> names starting with ``prefix``."""
    names = (line.split()[0] for line in text.splitlines() if line.strip())
    return frozenset(n for n in names if n.startswith(prefix))


def _json_list(text: str, what: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text or "[]")
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what}: not JSON ({exc})") from None
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise ValueError(f"{what}: expected a JSON list of objects")
    return data


# -- judgement ------------------------------------------------------------------

def mode_from_rules(role: str, nat_rules: Sequence[str]) -> NatMode | None:
    """The NAT mode whose MASQUERADE rule is present for ``role``, if any."""
    found = {normalise_rule(rule) for rule in nat_rules}
    for mode in NatMode:
        if normalise_rule(LabPlan(mode, mode).nat_rule(role)) in found:
            return mode
    return None


def assess(seen: Observed) -> LabStatus:
    """Judge ``seen`` against the recorded plan (or the NAT rules found, or the defaults)."""
    modes: dict[str, NatMode | None] = {}
    for side in SIDES:
        nat_rules = seen.rules.get(side.nat_namespace, {}).get("nat", ())
        modes[side.role] = mode_from_rules(side.role, nat_rules)
    plan = seen.recorded
    if plan is None:
        plan = LabPlan(modes["caller"] or LabPlan().caller_nat, modes["callee"] or LabPlan().callee_nat)

    checks = [Check(f"namespace {ns} exists", ns in seen.namespaces) for ns in NAMESPACES]
    links = {ns: {link.name: link for link in seen.links.get(ns, ())} for ns in NAMESPACES}
    for ns, names in plan.up_links().items():
        checks += [Check(f"{ns}: {name} up", name in links[ns] and links[ns][name].up) for name in names]
    for addr in plan.addresses():
        link = links[addr.namespace].get(addr.interface)
        checks.append(Check(f"{addr.namespace}: {addr.cidr} on {addr.interface}",
                            link is not None and addr.cidr in link.addresses))
    for ns, routes in plan.routes().items():
        checks += [Check(f"{ns}: route {r}", r in seen.routes.get(ns, ())) for r in routes]
    for side in SIDES:
        ns = side.nat_namespace
        checks.append(Check(f"{ns}: ip_forward=1", seen.ip_forward.get(ns, False)))
        for table, rules in plan.rules(side.role).items():
            found = {normalise_rule(rule) for rule in seen.rules.get(ns, {}).get(table, ())}
            checks += [Check(f"{ns}: iptables -t {table} {r}", normalise_rule(r) in found) for r in rules]
    checks.append(Check("nothing of the lab in the root namespace", not seen.root_strays))

    if all(c.ok for c in checks):
        state: LabState = "up"
    elif seen.namespaces or seen.root_strays or seen.state_file:
        state = "partial"
    else:
        state = "down"
    addresses = {ns: tuple(a for link in seen.links.get(ns, ()) if link.name != "lo" for a in link.addresses)
                 for ns in NAMESPACES}
    return LabStatus(state=state, present={ns: ns in seen.namespaces for ns in NAMESPACES},
                     addresses=addresses, nat_modes=modes, checks=tuple(checks),
                     root_strays=seen.root_strays, state_file=seen.state_file)

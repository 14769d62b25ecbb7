"""The NAT lab for real (root): built, reachable, NAT behaviour measured with UDP, removed.

Every test starts from a machine without the lab and removes it afterwards
(the ``lab`` fixture). Datagram tests are ordered so that no test waits for
something *not* to arrive: a control datagram sent after the one that must be
dropped arrives first, and the router's DROP counter shows where it went.
"""

from __future__ import annotations

import errno
import json
import re
import socket
import subprocess

import pytest
from click.testing import CliRunner

from callprobe.commands.lab import command
from callprobe.net.lab import builder
from callprobe.net.lab.builder import NOT_UP, STATE_FILE, LabCommandFailed, LabError
from callprobe.net.lab.topology import (
    HOSTS,
    NAMESPACES,
    PUBLIC_ADDRESS,
    SIDE_BY_ROLE,
    LabPlan,
    NatMode,
)
from callprobe.net.netns import exists
from callprobe.settings import ClientSettings
from tests.net.lab.conftest import SETTINGS, LabFactory, sh, udp

IP_RECVERR = getattr(socket, "IP_RECVERR", 11)    # Linux value; the constant is new in Python 3.12


def lab_namespaces() -> set[str]:
    return {line.split()[0] for line in sh("ip", "netns", "list").splitlines()
            if line.startswith("cplab-")}


def root_lab_links() -> list[str]:
    return [line for line in sh("ip", "-o", "link", "show").splitlines() if "cplab-" in line]


def assert_nothing_left() -> None:
    assert lab_namespaces() == set()
    assert root_lab_links() == []
    assert not STATE_FILE.exists()


def drop_count(namespace: str) -> int:
    """Packets the NAT router's ``INPUT -i cplab-wan -j DROP`` rule has dropped."""
    for line in sh("ip", "netns", "exec", namespace, "iptables-save", "-c", "-t", "filter").splitlines():
        if line.endswith("-A INPUT -i cplab-wan -j DROP"):
            return int(line[1:line.index(":")])
    raise AssertionError(f"no WAN DROP rule in {namespace}")


def test_up_builds_every_namespace_and_down_leaves_nothing(lab: LabFactory) -> None:
    assert builder.status(SETTINGS).state == "down"
    status = lab()
    assert status.state == "up" and status.changed, status.problems
    assert lab_namespaces() == set(NAMESPACES)
    assert all(exists(ns) for ns in NAMESPACES)
    assert root_lab_links() == []
    assert json.loads(STATE_FILE.read_text())["caller_nat"] == "symmetric"
    assert builder.require_up(SETTINGS).state == "up"
    assert sh("ip", "-n", "cplab-public", "route", "show", "default").split()[:3] == ["default", "dev", "cplab-br0"]

    again = lab()
    assert again.state == "up" and not again.changed

    removed = builder.down(SETTINGS)
    assert removed == [f"namespace {ns}" for ns in reversed(NAMESPACES)] + [f"state file {STATE_FILE}"]
    assert_nothing_left()
    assert builder.down(SETTINGS) == []
    assert builder.status(SETTINGS).state == "down"
    with pytest.raises(LabError, match=re.escape(NOT_UP)):
        builder.require_up(SETTINGS)


def test_every_host_reaches_the_public_address_and_the_lans_do_not_reach_each_other(lab: LabFactory) -> None:
    lab()
    with udp("cplab-public", PUBLIC_ADDRESS) as public:
        for role in ("caller", "callee"):
            with udp(HOSTS[role].namespace) as host:
                host.sendto(role.encode(), public.getsockname())
                data, seen_from = public.recvfrom(64)
                assert data == role.encode()
                assert seen_from[0] == SIDE_BY_ROLE[role].wan_address     # masqueraded
                public.sendto(b"reply", seen_from)
                assert host.recvfrom(64) == (b"reply", public.getsockname())

    # the caller's router has no route into the callee's LAN: it answers "network unreachable"
    route = subprocess.run(["ip", "-n", "cplab-caller-nat", "route", "get", HOSTS["callee"].address],
                           check=False, capture_output=True, text=True, timeout=10)
    assert route.returncode != 0 and "unreachable" in route.stderr
    with udp("cplab-callee", HOSTS["callee"].address) as callee, udp("cplab-caller") as caller:
        caller.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)   # ICMP "net unreachable" is not fatal otherwise
        caller.connect(callee.getsockname())
        caller.send(b"direct")
        with pytest.raises(OSError) as info:
            caller.recv(64)       # the ICMP error from 10.201.1.1 surfaces on the connected socket
        assert info.value.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)
        callee.setblocking(False)
        with pytest.raises(BlockingIOError):
            callee.recvfrom(64)


def measure_mappings(role: str) -> list[int]:
    """The source ports the public host sees when one socket of ``role``'s host
    sends to three public ports; checks on the way that unsolicited inbound
    traffic to the first mapping is dropped by the NAT router."""
    side = SIDE_BY_ROLE[role]
    with udp("cplab-public", PUBLIC_ADDRESS) as a, udp("cplab-public", PUBLIC_ADDRESS) as b, \
            udp("cplab-public", PUBLIC_ADDRESS) as c, udp("cplab-public", PUBLIC_ADDRESS) as stranger, \
            udp(side.host_namespace) as host:
        seen = []
        for public in (a, b, c):
            host.sendto(b"what is my address", public.getsockname())
            _, source = public.recvfrom(64)
            seen.append(source)
        assert {addr for addr, _ in seen} == {side.wan_address}

        # unsolicited: a public port the host never sent to aims at the mapping
        dropped_before = drop_count(side.nat_namespace)
        stranger.sendto(b"unsolicited", seen[0])
        a.sendto(b"solicited", seen[0])           # control: a reply from where the host did send
        assert host.recvfrom(64) == (b"solicited", a.getsockname())
        assert drop_count(side.nat_namespace) == dropped_before + 1
        host.setblocking(False)
        with pytest.raises(BlockingIOError):
            host.recvfrom(64)
        return [port for _, port in seen]


@pytest.mark.parametrize("caller_nat", list(NatMode))
def test_nat_modes_measured_with_udp(lab: LabFactory, caller_nat: NatMode) -> None:
    callee_nat = NatMode.PORT_RESTRICTED if caller_nat is NatMode.SYMMETRIC else NatMode.SYMMETRIC
    status = lab(caller_nat, callee_nat)
    assert status.nat_modes == {"caller": caller_nat, "callee": callee_nat}
    for role, mode in (("caller", caller_nat), ("callee", callee_nat)):
        ports = measure_mappings(role)
        if mode is NatMode.SYMMETRIC:
            # a new random mapping per destination (three, so a chance collision cannot fail this)
            assert len(set(ports)) > 1, ports
        else:
            assert len(set(ports)) == 1, ports       # one mapping for every destination


def test_partial_lab_is_reported_and_rebuilt_and_other_modes_rebuild(lab: LabFactory) -> None:
    lab()
    sh("ip", "netns", "del", "cplab-callee")
    status = builder.status(SETTINGS)
    assert status.state == "partial"
    assert "namespace cplab-callee exists" in status.problems
    with pytest.raises(LabError, match="not up") as info:
        builder.require_up(SETTINGS)
    assert "namespace cplab-callee exists" in info.value.hint

    rebuilt = lab()
    assert rebuilt.state == "up" and rebuilt.changed
    other = lab(NatMode.PORT_RESTRICTED, NatMode.PORT_RESTRICTED)
    assert other.changed and other.plan == LabPlan(NatMode.PORT_RESTRICTED, NatMode.PORT_RESTRICTED)
    assert json.loads(STATE_FILE.read_text())["caller_nat"] == "port-restricted"
    assert builder.status(SETTINGS).nat_modes["caller"] is NatMode.PORT_RESTRICTED


def test_down_removes_stray_links_in_the_root_namespace(lab: LabFactory) -> None:
    sh("ip", "link", "add", "cplab-stray0", "type", "veth", "peer", "name", "cplab-stray1")
    status = builder.status(SETTINGS)
    assert status.state == "partial"
    assert set(status.root_strays) == {"cplab-stray0", "cplab-stray1"}
    removed = builder.down(SETTINGS)      # deleting one end of the pair deletes both
    assert removed in (["link cplab-stray0 in the root namespace"], ["link cplab-stray1 in the root namespace"])
    assert_nothing_left()


class FailingPlan(LabPlan):
    """The real plan with one command in the middle that fails for real."""

    def up_commands(self) -> list[list[str]]:
        cmds = super().up_commands()
        return cmds[:20] + [["ip", "-n", "cplab-public", "link", "set", "cplab-nowhere", "up"]] + cmds[20:]


class HangingPlan(LabPlan):
    def up_commands(self) -> list[list[str]]:
        return super().up_commands()[:8] + [["sleep", "5"]]


def test_a_failing_command_is_named_and_nothing_is_left(lab: LabFactory) -> None:
    with pytest.raises(LabCommandFailed) as info:
        builder.up(FailingPlan(), SETTINGS)
    message = str(info.value)
    assert message.startswith("`ip -n cplab-public link set cplab-nowhere up` failed (exit 1): ")
    assert "cplab-nowhere" in message.split(": ", 1)[1]            # ip's own stderr
    assert message.endswith("; removed what was built")
    assert_nothing_left()


def test_a_hanging_command_runs_into_its_deadline(lab: LabFactory) -> None:
    with pytest.raises(LabCommandFailed) as info:
        builder.up(HangingPlan(), ClientSettings(lab_command_timeout_s=0.3))
    assert str(info.value).startswith("`sleep 5` did not finish within 0.3 s")
    assert "lab_command_timeout_s" in info.value.hint
    assert_nothing_left()


def test_cli_up_status_down(lab: LabFactory) -> None:
    runner = CliRunner()
    before = runner.invoke(command, ["status", "--json"])
    assert before.exit_code == 0, before.output
    assert json.loads(before.output)["state"] == "down"

    up = runner.invoke(command, ["up", "--caller-nat", "symmetric", "--callee-nat", "port-restricted"])
    assert up.exit_code == 0, up.output
    assert "NAT lab up (built in" in up.output
    for name, host in HOSTS.items():
        assert name in up.output and host.namespace in up.output and host.address in up.output
    assert "symmetric" in up.output and "port-restricted" in up.output
    assert "scenarios/nat-stun-only.yaml" in up.output and "scenarios/nat-with-turn.yaml" in up.output

    again = runner.invoke(command, ["up"])
    assert again.exit_code == 0 and "already up" in again.output

    doc = json.loads(runner.invoke(command, ["status", "--json"]).output)
    assert doc["state"] == "up" and doc["problems"] == []
    assert doc["nat"] == {"caller": "symmetric", "callee": "port-restricted"}
    assert doc["namespaces"]["cplab-callee-nat"]["addresses"] == ["198.51.100.12/24", "10.201.2.1/24"]
    assert "NAT lab up (5/5 namespaces)" in runner.invoke(command, ["status"]).output

    down = runner.invoke(command, ["down"])
    assert down.exit_code == 0 and "removed namespace cplab-public" in down.output
    assert_nothing_left()
    assert "nothing to remove" in runner.invoke(command, ["down"]).output
    assert "NAT lab down" in runner.invoke(command, ["status"]).output


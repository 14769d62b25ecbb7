"""``callprobe lab up|down|status``: the NAT lab of network namespaces (root, Linux)."""

from __future__ import annotations

import json
import time

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from callprobe.net.lab import builder
from callprobe.net.lab.status import LabStatus
from callprobe.net.lab.topology import (
    DEFAULT_CALLEE_NAT,
    DEFAULT_CALLER_NAT,
    HOSTS,
    NAMESPACES,
    SIDE_BY_ROLE,
    LabPlan,
    NatMode,
)

_MODES = [mode.value for mode in NatMode]
_NEXT = "scenarios/nat-stun-only.yaml, then scenarios/nat-with-turn.yaml"


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def hosts_table(status: LabStatus) -> Table:
    """One row per lab host: namespace, address, and the NAT in front of it."""
    table = Table(show_header=True, box=None, padding=(0, 2), header_style="bold")
    for column in ("host", "namespace", "address", "NAT", "public address"):
        table.add_column(column, no_wrap=True)
    for name, host in HOSTS.items():
        present = status.present.get(host.namespace, False)
        address = Text(host.address) if present else Text("missing", style="red")
        if name in SIDE_BY_ROLE:
            mode = status.nat_modes.get(name)
            nat = Text(mode.value if mode else "none", style="cyan" if mode else "red")
            wan = SIDE_BY_ROLE[name].wan_address
        else:
            nat, wan = Text("—"), host.address
        table.add_row(name, host.namespace, address, nat, wan)
    return table


def summary(status: LabStatus) -> str:
    """The one line that says what the lab is good for and what to run next."""
    plan = status.plan
    if plan is None:
        return f"NAT lab {status.state}"
    symmetric = [role for role, mode in plan.modes.items() if mode is NatMode.SYMMETRIC]
    stun = (f"STUN alone cannot cross the symmetric NAT of the {' and '.join(symmetric)}, TURN can"
            if symmetric else "STUN alone should connect, TURN too")
    return f"caller {plan.caller_nat.value}, callee {plan.callee_nat.value}: {stun}. Next: callprobe run {_NEXT}"


def _print_problems(console: Console, status: LabStatus) -> None:
    for problem in status.problems:
        console.print(Text(f"  missing: {problem}", style="yellow"))
    for stray in status.root_strays:
        console.print(Text(f"  stray link in the root namespace: {stray}", style="yellow"))


@click.group("lab")
def command() -> None:
    """Build or remove the NAT lab: a caller and a callee behind NATs (root, Linux).

    Five network namespaces (cplab-public with 198.51.100.1, cplab-caller-nat,
    cplab-caller 10.201.1.2, cplab-callee-nat, cplab-callee 10.201.2.2) let
    scenarios test STUN and TURN across real NAT behaviour. Needs root,
    iproute2 and iptables (apt-get install iptables).
    """


@command.command("up")
@click.option("--caller-nat", type=click.Choice(_MODES), default=DEFAULT_CALLER_NAT.value, show_default=True,
              help="NAT in front of the caller: symmetric (a new port per destination) or "
                   "port-restricted (one port, replies only from where packets went).")
@click.option("--callee-nat", type=click.Choice(_MODES), default=DEFAULT_CALLEE_NAT.value, show_default=True,
              help="NAT in front of the callee.")
def up_command(caller_nat: str, callee_nat: str) -> None:
    """Build the lab with the chosen NAT modes.

    Keeps a lab that is already up with these modes; removes and rebuilds a
    partial one or one with other modes. Prints each host, its address and
    NAT, and the scenarios to run next.
    """
    plan = LabPlan(NatMode(caller_nat), NatMode(callee_nat))
    started = time.monotonic()
    status = builder.up(plan)
    elapsed = time.monotonic() - started
    console = _console()
    if status.changed:
        console.print(Text(f"NAT lab up (built in {elapsed:.2f} s)", style="green"))
    else:
        console.print(Text("NAT lab already up with these NAT modes: nothing changed", style="green"))
    console.print(hosts_table(status))
    console.print(summary(status))


@command.command("down")
def down_command() -> None:
    """Remove the lab (safe to repeat).

    Deletes every cplab-* namespace, any cplab-* link left in the root
    namespace and the state file, and lists what it removed.
    """
    removed = builder.down()
    console = _console()
    for item in removed:
        console.print(f"removed {item}")
    console.print(Text("NAT lab down" if removed else "NAT lab down: nothing to remove", style="green"))


@command.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status_command(as_json: bool) -> None:
    """Show whether the lab is up, partial or down.

    A partial lab lists every missing namespace, address, route or rule.
    """
    status = builder.status()
    if as_json:
        click.echo(json.dumps(status.to_json(), indent=2))
        return
    console = _console()
    style = {"up": "green", "partial": "yellow", "down": "dim"}[status.state]
    present = sum(status.present.get(ns, False) for ns in NAMESPACES)
    console.print(Text(f"NAT lab {status.state} ({present}/{len(NAMESPACES)} namespaces)", style=style))
    if status.state == "down":
        console.print("build it with: sudo callprobe lab up")
        return
    console.print(hosts_table(status))
    if status.state == "up":
        console.print(summary(status))
    else:
        _print_problems(console, status)
        console.print("rebuild it with: sudo callprobe lab up (or remove it: sudo callprobe lab down)")

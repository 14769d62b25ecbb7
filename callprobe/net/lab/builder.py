"""Builds, inspects and removes the NAT lab: the only part that runs ``ip``/``iptables``.

Every command runs with ``ClientSettings.lab_command_timeout_s``. A failed
build removes what it made before raising, so the machine is never left half
configured; ``down`` removes every ``cplab-*`` namespace and root-namespace
link it finds, whether or not this process made them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from callprobe.errors import CallprobeError, ExitCode
from callprobe.net.lab.status import (
    Interface,
    LabStatus,
    Observed,
    assess,
    parse_interfaces,
    parse_iptables_save,
    parse_netns_list,
    parse_root_links,
    parse_routes,
)
from callprobe.net.lab.topology import NAMESPACES, PREFIX, SIDES, LabPlan, NatMode
from callprobe.settings import ClientSettings

#: where ``up`` records the NAT modes it built, for ``status``
STATE_FILE = Path("/run/callprobe/lab.json")

#: commands the lab runs -> the Debian package that provides them
REQUIRED_TOOLS = {"ip": "iproute2", "iptables": "iptables", "iptables-save": "iptables", "sysctl": "procps"}

NEEDS_ROOT = "the NAT lab needs root and iptables: apt-get install iptables"
NOT_UP = "the NAT lab is not up: run `sudo callprobe lab up`"


class LabError(CallprobeError):
    """The NAT lab cannot be built, inspected or used on this machine."""

    code = "LAB_ERROR"
    exit_code = ExitCode.USAGE


class LabCommandFailed(LabError):
    """One ``ip``/``iptables`` command failed or ran past its deadline."""

    code = "LAB_COMMAND_FAILED"

    def __init__(self, argv: list[str], detail: str, *, hint: str | None = None) -> None:
        super().__init__(f"`{shlex.join(argv)}` {detail}", hint=hint)
        self.argv, self.detail = argv, detail


def check_prerequisites(*, platform: str | None = None, geteuid: Callable[[], int] | None = None,
                        which: Callable[[str], str | None] = shutil.which) -> None:
    """Raise ``LabError`` unless this is Linux, we are root and the tools exist.

    The arguments exist so the refusals can be tested without leaving root.
    """
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        raise LabError(f"the NAT lab needs Linux network namespaces; this system is {platform}",
                       hint="run the lab on a Linux machine or VM")
    if geteuid is None:
        geteuid = getattr(os, "geteuid", lambda: -1)
    euid = geteuid()
    if euid != 0:
        raise LabError(NEEDS_ROOT, hint=f"running as uid {euid}: run it as root (sudo callprobe lab ...)")
    missing = [tool for tool in REQUIRED_TOOLS if which(tool) is None]
    if missing:
        packages = " ".join(dict.fromkeys(REQUIRED_TOOLS[t] for t in missing))
        raise LabError(NEEDS_ROOT, hint=f"missing commands: {', '.join(missing)} "
                                        f"(apt-get install {packages})")


def _run(argv: list[str], settings: ClientSettings, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    timeout = settings.lab_command_timeout_s
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise LabCommandFailed(argv, f"did not finish within {timeout:g} s",
                               hint="raise the setting lab_command_timeout_s") from None
    except OSError as exc:
        raise LabCommandFailed(argv, f"could not start: {exc.strerror or exc}",
                               hint=NEEDS_ROOT) from None
    if check and proc.returncode != 0:
        stderr = " ".join(proc.stderr.split()) or "(no message)"
        raise LabCommandFailed(argv, f"failed (exit {proc.returncode}): {stderr}")
    return proc


# -- state file ---------------------------------------------------------------

def read_state(path: Path) -> LabPlan | None:
    """The NAT modes recorded by ``up``; None when absent or unreadable."""
    try:
        data = json.loads(path.read_text())
        return LabPlan(NatMode(data["caller_nat"]), NatMode(data["callee_nat"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_state(path: Path, plan: LabPlan) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"caller_nat": plan.caller_nat.value, "callee_nat": plan.callee_nat.value,
                               "namespaces": list(NAMESPACES)}, indent=2) + "\n")
    os.replace(tmp, path)


# -- inspection -----------------------------------------------------------------

def _present_namespaces(settings: ClientSettings) -> frozenset[str]:
    return parse_netns_list(_run(["ip", "netns", "list"], settings).stdout, PREFIX)


def _root_strays(settings: ClientSettings) -> tuple[str, ...]:
    return parse_root_links(_run(["ip", "-o", "link", "show"], settings).stdout, PREFIX)


def observe(settings: ClientSettings, state_file: Path = STATE_FILE) -> Observed:
    """Gather the raw facts ``assess`` judges. A namespace vanishing meanwhile reads as empty."""
    namespaces = _present_namespaces(settings)
    links: dict[str, list[Interface]] = {}
    routes: dict[str, list[str]] = {}
    rules: dict[str, dict[str, list[str]]] = {}
    forward: dict[str, bool] = {}
    try:
        for ns in NAMESPACES:
            if ns not in namespaces:
                continue
            links[ns] = parse_interfaces(_run(["ip", "-n", ns, "-j", "addr", "show"], settings, check=False).stdout)
            routes[ns] = parse_routes(_run(["ip", "-n", ns, "-j", "route", "show"], settings,
                                           check=False).stdout)
        for side in SIDES:
            ns = side.nat_namespace
            if ns not in namespaces:
                continue
            rules[ns] = parse_iptables_save(_run(["ip", "netns", "exec", ns, "iptables-save"], settings,
                                                 check=False).stdout)
            value = _run(["ip", "netns", "exec", ns, "sysctl", "-n", "net.ipv4.ip_forward"], settings,
                         check=False).stdout
            forward[ns] = value.strip() == "1"
    except ValueError as exc:
        raise LabError(f"cannot read the NAT lab's state: {exc}") from None
    return Observed(namespaces=namespaces, links=links, routes=routes, rules=rules, ip_forward=forward,
                    root_strays=_root_strays(settings), recorded=read_state(state_file),
                    state_file=str(state_file) if state_file.exists() else None)


def status(settings: ClientSettings | None = None, *, state_file: Path = STATE_FILE) -> LabStatus:
    """Whether the lab is up, partly there or gone, with every check that failed."""
    check_prerequisites()
    return assess(observe(settings or ClientSettings(), state_file))


def require_up(settings: ClientSettings | None = None, *, state_file: Path = STATE_FILE) -> LabStatus:
    """The lab's status; raises ``LabError`` unless it is fully up (scenarios in ``cplab-*``)."""
    current = status(settings, state_file=state_file)
    if current.state != "up":
        missing = current.problems
        shown = "; ".join(missing[:3]) + (f"; and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise LabError(NOT_UP, hint=f"lab is {current.state}: {shown}")
    return current


# -- building and removing ----------------------------------------------------------

def up(plan: LabPlan, settings: ClientSettings | None = None, *, state_file: Path = STATE_FILE) -> LabStatus:
    """Build the lab for ``plan``; ``changed`` is False when it was already up that way.

    A partial lab, or one with other NAT modes, is removed and rebuilt. When a
    command fails, everything built so far is removed before the error is raised.

    Raises:
        LabError: not root / not Linux / tools missing, or a command failed.
    """
    check_prerequisites()
    settings = settings or ClientSettings()
    before = assess(observe(settings, state_file))
    if before.state == "up" and before.plan == plan:
        if read_state(state_file) != plan:
            write_state(state_file, plan)
        return dataclasses.replace(before, state_file=str(state_file), changed=False)
    if before.state != "down":
        _remove(settings, state_file, best_effort=False)
    try:
        for argv in plan.up_commands():
            _run(argv, settings)
        write_state(state_file, plan)
        after = assess(observe(settings, state_file))
    except LabCommandFailed as exc:
        _remove(settings, state_file, best_effort=True)
        raise LabCommandFailed(exc.argv, f"{exc.detail}; removed what was built",
                               hint=exc.hint or None) from None
    except (LabError, OSError) as exc:
        _remove(settings, state_file, best_effort=True)
        raise LabError(f"building the NAT lab failed, removed what was built: {exc}") from None
    if after.state != "up":
        _remove(settings, state_file, best_effort=True)
        raise LabError("the NAT lab was built but does not check out: " + "; ".join(after.problems),
                       hint="removed it again; see `callprobe lab status` after building by hand")
    return dataclasses.replace(after, changed=True)


def down(settings: ClientSettings | None = None, *, state_file: Path = STATE_FILE) -> list[str]:
    """Remove every ``cplab-*`` namespace, stray root-namespace link and the state file.

    Idempotent: returns what it removed (empty when nothing was there).
    """
    check_prerequisites()
    return _remove(settings or ClientSettings(), state_file, best_effort=False)


def _remove(settings: ClientSettings, state_file: Path, *, best_effort: bool) -> list[str]:
    removed: list[str] = []

    def attempt(argv: list[str]) -> bool:
        try:
            _run(argv, settings)
            return True
        except LabError:
            if not best_effort:
                raise
            return False

    present = _present_namespaces(settings)
    ours = tuple(ns for ns in NAMESPACES if ns in present)
    others = tuple(sorted(present - set(NAMESPACES)))    # cplab-* left by another version
    for argv in LabPlan.down_commands(ours + others):
        ns = argv[-1]
        pids = _run(["ip", "netns", "pids", ns], settings, check=False).stdout.split()
        if attempt(argv):
            note = f" (still used by pids {', '.join(pids)}: they keep its interfaces alive)" if pids else ""
            removed.append(f"namespace {ns}{note}")
    for name in _root_strays(settings):
        # deleting one end of a veth pair also deletes the other: re-check first
        if name in _root_strays(settings) and attempt(["ip", "link", "del", name]):
            removed.append(f"link {name} in the root namespace")
    if state_file.exists():
        try:
            state_file.unlink()
            removed.append(f"state file {state_file}")
        except OSError as exc:
            if not best_effort:
                raise LabError(f"cannot remove {state_file}: {exc.strerror or exc}") from None
    return removed

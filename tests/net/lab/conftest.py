"""Fixtures of the NAT lab tests (root, Linux): every test that builds the lab
removes it again, whatever happens, and starts from a machine without it."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from callprobe.net.lab import builder
from callprobe.net.lab.status import LabStatus
from callprobe.net.lab.topology import LabPlan, NatMode
from callprobe.net.netns import entered
from callprobe.settings import ClientSettings

#: deadline of one datagram between lab namespaces (a reply normally takes < 1 ms)
REPLY_S = 2.0
SETTINGS = ClientSettings(lab_command_timeout_s=10.0)

LabFactory = Callable[..., LabStatus]


def require_root() -> None:
    """Fail, saying why, where the lab cannot be built (a test that cannot run proves nothing); CI runs as root."""
    if os.geteuid() != 0:
        pytest.fail("the NAT lab needs root (network namespaces, veth pairs and iptables); run the tests as root, "
                    "as .ci/run does", pytrace=False)
    missing = [tool for tool in ("ip", "iptables") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"the NAT lab needs {', '.join(missing)}: apt-get install iproute2 iptables", pytrace=False)


#: The lab's namespaces have fixed names (scenarios name them): test runs on one machine take turns.
LAB_LOCK = Path(tempfile.gettempdir()) / "callprobe-lab-tests.lock"
#: How long a test waits for another test run's lab test to finish.
LAB_LOCK_WAIT_S = 300.0


@pytest.fixture
def lab_to_ourselves() -> Iterator[None]:
    """Hold the machine's lab lock for one test: no other test run builds or removes the lab meanwhile."""
    require_root()
    with LAB_LOCK.open("a") as held:
        end = time.monotonic() + LAB_LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > end:
                    pytest.fail(f"another test run held the NAT lab for over {LAB_LOCK_WAIT_S:.0f} s ({LAB_LOCK})")
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


@pytest.fixture
def lab(lab_to_ourselves: None) -> Iterator[LabFactory]:
    """``lab(caller_nat, callee_nat)`` builds the lab; it is removed after the test."""
    builder.down(SETTINGS)
    try:
        def factory(caller: NatMode = NatMode.SYMMETRIC,
                    callee: NatMode = NatMode.PORT_RESTRICTED) -> LabStatus:
            return builder.up(LabPlan(caller, callee), SETTINGS)
        yield factory
    finally:
        builder.down(SETTINGS)


@contextmanager
def udp(namespace: str, address: str = "0.0.0.0", port: int = 0) -> Iterator[socket.socket]:
    """A UDP socket created inside ``namespace``, bound, closed after the block."""
    with entered(namespace):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((address, port))
        sock.settimeout(REPLY_S)
        yield sock
    finally:
        sock.close()


def sh(*argv: str) -> str:
    """Run a command that must succeed; its standard output."""
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=10).stdout

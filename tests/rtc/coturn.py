"""A real coturn TURN server on a free loopback port, started and stopped by a test.

coturn (Debian package ``coturn``) must be installed: tests that use it fail,
rather than skip, when ``turnserver`` is missing. The command line is the one
AIORTC-NOTES.md records as working on loopback; ``--allow-loopback-peers``
is required, or relay candidates are gathered but ICE never completes.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

START_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 3.0
REALM = "callprobe"

# STUN Binding request (RFC 8489 section 5): type 0x0001, length 0, magic cookie, transaction id.
_MAGIC = bytes.fromhex("2112a442")


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free loopback port for coturn")


def stun_binding_ok(port: int, timeout: float = 0.2) -> bool:
    """True when a STUN Binding request to 127.0.0.1:port gets a success response."""
    transaction = os.urandom(12)
    request = b"\x00\x01\x00\x00" + _MAGIC + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(request, ("127.0.0.1", port))
            data, _ = sock.recvfrom(2048)
        except OSError:
            return False
    return len(data) >= 20 and data[:2] == b"\x01\x01" and data[8:20] == transaction


class Coturn:
    """``with Coturn(workdir) as turn:`` runs turnserver until the block ends."""

    def __init__(self, workdir: Path, user: str = "probe", password: str = "secret123") -> None:
        self.workdir = workdir
        self.user, self.password = user, password
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "turnserver.log"

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("turnserver")
        if binary is None:
            raise RuntimeError("coturn is not installed: apt-get install -y coturn")
        self.port = free_port()
        command = [
            binary, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
            f"--listening-port={self.port}", f"--user={self.user}:{self.password}",
            f"--realm={REALM}", "--lt-cred-mech", "--no-cli", "--no-tls", "--no-dtls",
            "--fingerprint", "--allow-loopback-peers", "--min-port=49152", "--max-port=59999",
            f"--pidfile={self.workdir / 'turnserver.pid'}", "--log-file=stdout", "--simple-log",
        ]
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if stun_binding_ok(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"turnserver did not answer on port {self.port} within "
                           f"{START_TIMEOUT_S} s; log:\n{self.log_path.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        self.process = None

    def __enter__(self) -> Coturn:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

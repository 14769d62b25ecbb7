"""A coturn TURN server (Debian ``turnserver``) that callprobe starts, owns and stops.

Tests, the NAT lab and users without a TURN server of their own need a real
one: this module runs coturn on a chosen address (optionally inside a network
namespace), waits until it answers STUN, and makes sure the process never
outlives its owner. The command line is the one docs/aiortc-notes.md#coturn records as
working; ``--allow-loopback-peers`` is added only on loopback, where it is
required (relay candidates are gathered but ICE never completes without it).

Process hygiene, in three layers: :meth:`Coturn.stop` (SIGTERM, then SIGKILL);
a ``weakref.finalize`` that also runs at interpreter exit; and, when started
from the main thread, ``setpriv --pdeathsig`` so the kernel kills coturn if
this process dies without cleaning up. The parent-death signal fires when the
*thread* that started the process ends, so it is not armed from other threads
(a worker thread may end long before its owner).
"""

from __future__ import annotations

import ipaddress
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Self

from callprobe.errors import CallprobeError, ExitCode
from callprobe.net.netns import entered
from callprobe.rtc.ice_config import IceServer
from callprobe.settings import ClientSettings

#: relay ports coturn hands out (its Debian default range, kept explicit)
MIN_RELAY_PORT, MAX_RELAY_PORT = 49152, 59999
#: one STUN probe's wait while polling for readiness
_PROBE_WAIT_S = 0.2
_POLL_INTERVAL_S = 0.05
_DEFAULT_SETTINGS = ClientSettings()


class CoturnError(CallprobeError):
    """coturn is not installed, was given unusable arguments, or did not start."""

    code = "COTURN_FAILED"
    exit_code = ExitCode.SERVER_UNREACHABLE
    hint = "coturn comes from the Debian package `coturn` (apt-get install -y coturn)"

    def __init__(self, message: str, *, hint: str | None = None,
                 exit_code: ExitCode = ExitCode.SERVER_UNREACHABLE) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code


def free_port(listen_ip: str = "127.0.0.1", netns: str | None = None) -> int:
    """A port free for both UDP and TCP on ``listen_ip`` (coturn listens on both).

    Raises:
        CoturnError: ``listen_ip`` is not a local address, or no port was free
            for both in 50 tries.
    """
    family = socket.AF_INET6 if ipaddress.ip_address(listen_ip).version == 6 else socket.AF_INET
    for _ in range(50):
        with entered(netns):
            udp = socket.socket(family, socket.SOCK_DGRAM)
            tcp = socket.socket(family, socket.SOCK_STREAM)
        with udp, tcp:
            try:
                udp.bind((listen_ip, 0))
            except OSError as exc:
                where = f"namespace {netns}" if netns else "this host"
                raise CoturnError(f"coturn listen_ip {listen_ip} is not an address of {where} "
                                  f"({exc.strerror})", hint="`ip -br addr` lists the addresses",
                                  exit_code=ExitCode.USAGE) from None
            port = int(udp.getsockname()[1])
            try:
                tcp.bind((listen_ip, port))
            except OSError:
                continue
            return port
    raise CoturnError(f"no port free for both UDP and TCP on {listen_ip}")


def stun_binding_ok(listen_ip: str, port: int, timeout_s: float = _PROBE_WAIT_S,
                    netns: str | None = None) -> bool:
    """True when a STUN Binding request to ``listen_ip:port`` gets a success response.

    Synchronous on purpose (``start`` is): one request, one wait of at most
    ``timeout_s``, built and parsed with aioice's STUN codec.
    """
    from aioice import stun

    family = socket.AF_INET6 if ipaddress.ip_address(listen_ip).version == 6 else socket.AF_INET
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    with entered(netns):
        sock = socket.socket(family, socket.SOCK_DGRAM)
    with sock:
        sock.settimeout(timeout_s)
        try:
            # connected: a closed port fails at once (ICMP port unreachable) instead
            # of costing the whole wait, so readiness polling is quick
            sock.connect((listen_ip, port))
            sock.send(bytes(request))
            data = sock.recv(2048)
            response = stun.parse_message(data)
        except (OSError, ValueError):
            return False
    return (response.transaction_id == request.transaction_id
            and response.message_method == stun.Method.BINDING
            and response.message_class == stun.Class.RESPONSE)


def _stop_process(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, wait, SIGKILL; also the finalizer (so it must not refer to a Coturn)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout_s)


def _cleanup(process: subprocess.Popen[bytes], timeout_s: float, tempdir: str | None) -> None:
    _stop_process(process, timeout_s)
    if tempdir is not None:
        shutil.rmtree(tempdir, ignore_errors=True)


class Coturn:
    """``with Coturn() as turn:`` runs turnserver until the block ends.

    Args:
        listen_ip: the address coturn listens and relays on (an IP literal).
        port: the listening port; 0 picks one free for UDP and TCP.
        user, password: the long-term credential; ``None`` makes a random one.
        realm: the realm coturn announces in its 401 responses.
        netns: run coturn (and the readiness probes) inside this network
            namespace (``ip netns`` name).
        workdir: where the log, pid file and user database go; ``None`` uses a
            private temporary folder removed by :meth:`stop`.
        settings: ``turn_start_timeout_s`` and ``turn_stop_timeout_s`` apply.
        extra_args: more turnserver options, appended as given (for instance
            ``--user-quota=1`` or ``--denied-peer-ip=...`` to provoke a failure).

    Raises:
        CoturnError: an argument is unusable (exit code USAGE).
    """

    def __init__(self, *, listen_ip: str = "127.0.0.1", port: int = 0, user: str | None = None,
                 password: str | None = None, realm: str = "callprobe", netns: str | None = None,
                 workdir: Path | None = None, settings: ClientSettings = _DEFAULT_SETTINGS,
                 extra_args: tuple[str, ...] = ()) -> None:
        try:
            address = ipaddress.ip_address(listen_ip)
        except ValueError:
            raise CoturnError(f"coturn listen_ip {listen_ip!r} is not an IP address",
                              hint="give an IP literal such as 127.0.0.1",
                              exit_code=ExitCode.USAGE) from None
        if not 0 <= port < 65536:
            raise CoturnError(f"coturn port {port} is out of range (0 picks a free one)",
                              hint="", exit_code=ExitCode.USAGE)
        self.user = user if user is not None else "cp-" + secrets.token_urlsafe(8)
        self.password = password if password is not None else secrets.token_urlsafe(16)
        for name, value in (("user", self.user), ("password", self.password), ("realm", realm)):
            if not value or any(c.isspace() for c in value) or (name == "user" and ":" in value):
                raise CoturnError(f"coturn {name} {value!r} is unusable: it must be non-empty, "
                                  "without spaces" + (" or ':'" if name == "user" else ""),
                                  hint="", exit_code=ExitCode.USAGE)
        self.listen_ip = str(address)
        self.port = port
        self.realm = realm
        self.netns = netns
        self.settings = settings
        self.extra_args = tuple(extra_args)
        self._requested_port = port
        self._workdir = workdir
        self._tempdir: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[..., Coturn] | None = None
        #: the log file; under ``workdir``, or the private folder made by start()
        self.log_path = (workdir or Path(tempfile.gettempdir()) / "callprobe-coturn-unstarted"
                         ) / "turnserver.log"

    # -- URLs ---------------------------------------------------------------

    def _host(self) -> str:
        if ipaddress.ip_address(self.listen_ip).version == 6:
            return f"[{self.listen_ip}]"
        return self.listen_ip

    def stun_url(self) -> str:
        return f"stun:{self._host()}:{self.port}"

    def turn_url(self, transport: str = "udp") -> str:
        if transport not in ("udp", "tcp"):
            raise CoturnError(f"TURN transport {transport!r} is not udp or tcp",
                              hint="", exit_code=ExitCode.USAGE)
        return f"turn:{self._host()}:{self.port}?transport={transport}"

    def ice_servers(self, *, stun: bool, turn: str | None) -> tuple[IceServer, ...]:
        """The servers a peer should be given: this STUN URL and/or this TURN URL.

        Args:
            stun: include ``stun:IP:PORT``.
            turn: ``None`` for no TURN, else the transport, ``"udp"`` or ``"tcp"``.
        """
        servers: list[IceServer] = []
        if stun:
            servers.append(IceServer((self.stun_url(),)))
        if turn is not None:
            servers.append(IceServer((self.turn_url(turn),), self.user, self.password))
        return tuple(servers)

    # -- process ------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def command(self, binary: str = "turnserver") -> list[str]:
        """The turnserver command line (without the netns and setpriv wrappers)."""
        folder = self.log_path.parent
        loopback = ipaddress.ip_address(self.listen_ip).is_loopback
        return [
            binary, "-n", f"--listening-ip={self.listen_ip}", f"--relay-ip={self.listen_ip}",
            f"--listening-port={self.port}", f"--user={self.user}:{self.password}",
            f"--realm={self.realm}", "--lt-cred-mech", "--no-cli", "--no-tls", "--no-dtls",
            "--fingerprint", *(["--allow-loopback-peers"] if loopback else []),
            f"--min-port={MIN_RELAY_PORT}", f"--max-port={MAX_RELAY_PORT}",
            f"--pidfile={folder / 'turnserver.pid'}",
            # a private user database: the default, /var/lib/turn/turndb, is shared
            f"--userdb={folder / 'turndb'}",
            # stdout (redirected to log_path) also catches what coturn prints
            # before its logger is up, such as option errors
            "--log-file=stdout", "--simple-log", *self.extra_args,
        ]

    def start(self) -> None:
        """Start coturn and wait until it answers a STUN Binding request.

        Raises:
            CoturnError: turnserver (or ``ip`` for a namespace) is missing, or
                coturn exited or stayed silent for ``turn_start_timeout_s``;
                the message ends with the log's last lines.
        """
        if self._process is not None:
            raise CoturnError("coturn is already started", hint="", exit_code=ExitCode.USAGE)
        binary = shutil.which("turnserver")
        if binary is None:
            raise CoturnError("coturn is not installed: no `turnserver` on PATH")
        prefix: list[str] = []
        if self.netns is not None:
            from callprobe.net.netns import NetnsError, require

            try:
                require(self.netns)
            except NetnsError as exc:
                raise CoturnError(f"coturn: {exc}", hint=exc.hint,
                                  exit_code=ExitCode.USAGE) from None
            ip = shutil.which("ip")
            if ip is None:
                raise CoturnError("`ip` (iproute2) is missing: needed to run coturn in a namespace",
                                  hint="apt-get install -y iproute2")
            prefix = [ip, "netns", "exec", self.netns]
        setpriv = shutil.which("setpriv")
        if setpriv is not None and threading.current_thread() is threading.main_thread():
            prefix += [setpriv, "--pdeathsig", "TERM", "--"]

        if self._workdir is None:
            self._tempdir = tempfile.mkdtemp(prefix="callprobe-coturn-")
            self.log_path = Path(self._tempdir) / "turnserver.log"
        else:
            self._workdir.mkdir(parents=True, exist_ok=True)
            self.log_path = self._workdir / "turnserver.log"
        try:
            if self._requested_port == 0:
                self.port = free_port(self.listen_ip, self.netns)
            with self.log_path.open("wb") as log:
                self._process = subprocess.Popen(
                    prefix + self.command(binary), stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, cwd=self.log_path.parent)
        except OSError as exc:
            self._remove_tempdir()
            raise CoturnError(f"cannot run turnserver: {exc}") from None
        except BaseException:
            self._remove_tempdir()
            raise
        self._finalizer = weakref.finalize(self, _cleanup, self._process,
                                           self.settings.turn_stop_timeout_s, self._tempdir)

        deadline = time.monotonic() + self.settings.turn_start_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if stun_binding_ok(self.listen_ip, self.port, netns=self.netns):
                return
            time.sleep(_POLL_INTERVAL_S)
        code = self._process.poll()
        what = (f"exited with status {code}" if code is not None else
                f"did not answer STUN within {self.settings.turn_start_timeout_s:g} s "
                "(setting turn_start_timeout_s)")
        tail = self.log_tail()
        self.stop()
        raise CoturnError(f"coturn on {self.listen_ip}:{self.port}"
                          f"{f' in namespace {self.netns}' if self.netns else ''} {what}; "
                          f"log tail:\n{tail}",
                          hint="check the address exists (inside the namespace, if any) "
                               "and the port is free")

    def stop(self) -> None:
        """SIGTERM, wait ``turn_stop_timeout_s``, then SIGKILL. Idempotent."""
        process, self._process = self._process, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if process is not None:
            _stop_process(process, self.settings.turn_stop_timeout_s)
        self._remove_tempdir()

    def _remove_tempdir(self) -> None:
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

    def log_tail(self, lines: int = 20) -> str:
        """The log's last ``lines`` lines ("" before start or once the private folder is gone)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f" netns={self.netns}" if self.netns else ""
        return f"<Coturn {self.listen_ip}:{self.port}{where} {'running' if self.running else 'stopped'}>"


"""A coturn TURN server (Debian ``turnserver``) that callprobe starts, owns and stops.

Tests, the NAT lab and users without a TURN server of their own need a real
one: this module runs coturn on a chosen address (optionally inside a network
namespace), waits until it answers STUN, and makes sure the process never
outlives its owner. The command line is the one docs/aiortc-notes.md#coturn records as
working; ``--allow-loopback-peers`` is added only on loopback, where it is
required (relay candidates are gathered but ICE never completes without it).

Process hygiene: coturn never outlives callprobe, whatever ends it.
coturn runs under a small *guard* process (``_GUARD``, plain Python, no
callprobe imports) that reads a pipe whose other end only callprobe holds.
When that pipe closes, because :meth:`Coturn.stop` closed it or because
callprobe died in any way (SIGTERM, SIGKILL, a crash) and the kernel closed
it, the guard stops coturn (SIGTERM, then SIGKILL) and removes the private
folder. coturn itself gets ``setpriv --pdeathsig`` against the guard, which is
single-threaded and lives exactly as long as coturn, so a killed guard takes
coturn with it too. (A parent-death signal armed in callprobe would fire when
the *thread* that started coturn ends: ``asyncio.to_thread`` workers end long
before their owner.) A ``weakref.finalize`` also stops coturn when its owner
object is dropped. Should a guard be killed as well, the next start removes
private folders whose owner process is gone (each has an ``owner`` file).

The credential never appears on a command line (``ps`` shows every argument):
coturn reads it from ``turnserver.conf`` (mode 0600) in its working folder,
which is removed, or loses that file, when coturn stops.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import select
import shutil
import socket
import subprocess
import sys
import tempfile
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
#: private folders are ``<tmp>/callprobe-coturn-*``; each names its owner in ``owner``
_FOLDER_PREFIX = "callprobe-coturn-"
_OWNER_FILE = "owner"
_CONFIG_FILE = "turnserver.conf"

#: The guard: runs coturn until its stdin (a pipe only callprobe writes) closes or
#: SIGTERM comes, then stops coturn and removes what it was told to. argv[1] is
#: JSON: {"status_fd", "stop_s", "remove": [paths], "command": [argv]}. It reports
#: "<pid>" (or "error: ...") on status_fd. No secret is ever among its arguments.
_GUARD = r"""
import json, os, select, shutil, signal, subprocess, sys
job = json.loads(sys.argv[1])
signal.signal(signal.SIGINT, signal.SIG_IGN)
def stop(*_):
    raise SystemExit(0)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGHUP, stop)
child = None
try:
    try:
        child = subprocess.Popen(job["command"], stdin=subprocess.DEVNULL)
    except OSError as exc:
        os.write(job["status_fd"], f"error: {exc}\n".encode())
        raise SystemExit(127)
    os.write(job["status_fd"], f"{child.pid}\n".encode())
    os.close(job["status_fd"])
    try:
        exited = os.pidfd_open(child.pid)
    except (AttributeError, OSError):
        exited = None
    while child.poll() is None:
        ready, _, _ = select.select([0] + ([exited] if exited is not None else []), [], [], 0.5)
        if 0 in ready and not os.read(0, 4096):
            break
finally:
    if child is not None and child.poll() is None:
        child.terminate()
        try:
            child.wait(job["stop_s"])
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    for path in job["remove"]:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)
"""


class CoturnError(CallprobeError):
    """coturn is not installed, was given unusable arguments, or did not start."""

    code = "COTURN_FAILED"
    exit_code = ExitCode.SERVER_START_FAILED  # a server callprobe runs itself did not start
    hint = "coturn comes from the Debian package `coturn` (apt-get install -y coturn)"

    def __init__(self, message: str, *, hint: str | None = None,
                 exit_code: ExitCode = ExitCode.SERVER_START_FAILED) -> None:
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


def process_start_time(pid: int) -> float | None:
    """When ``pid`` started (seconds since the epoch); ``None`` if it is gone or a zombie."""
    import psutil

    try:
        proc = psutil.Process(pid)
        return None if proc.status() == psutil.STATUS_ZOMBIE else float(proc.create_time())
    except psutil.Error:
        return None


def remove_stale_folders(folder: Path | None = None) -> list[Path]:
    """Remove private coturn folders whose owner process is gone; return them.

    A folder without an ``owner`` file is not known to be callprobe's and is kept.
    """
    removed = []
    for path in (folder or Path(tempfile.gettempdir())).glob(f"{_FOLDER_PREFIX}*"):
        try:
            pid_text, started = (path / _OWNER_FILE).read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            continue
        if process_start_time(pid) != float(started):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _stop_guard(process: subprocess.Popen[bytes], watch_fd: int | None, turn_pid: int | None,
                timeout_s: float, remove: tuple[str, ...]) -> None:
    """Close the guard's pipe, wait for it, force it if needed; also the finalizer (no Coturn here)."""
    if watch_fd is not None:
        try:
            os.close(watch_fd)  # EOF: the guard stops coturn and removes its files
        except OSError:
            pass
    try:
        process.wait(2 * timeout_s + 1)
    except subprocess.TimeoutExpired:
        process.kill()  # coturn's parent-death signal fires
        process.wait(timeout_s)
        if turn_pid is not None and process_start_time(turn_pid) is not None:
            try:
                os.kill(turn_pid, 9)
            except OSError:
                pass
    for path in remove:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)


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
        self._process: subprocess.Popen[bytes] | None = None  # the guard
        self._turn_pid: int | None = None
        self._watch_fd: int | None = None
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
        """coturn runs (its guard exits as soon as coturn does)."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """turnserver's process id."""
        return self._turn_pid if self._process is not None else None

    @property
    def guard_pid(self) -> int | None:
        """The guard's process id (coturn's parent)."""
        return self._process.pid if self._process is not None else None

    @property
    def config_path(self) -> Path:
        return self.log_path.parent / _CONFIG_FILE

    def config_text(self) -> str:
        """``turnserver.conf``: the credential, kept off the command line."""
        return f"user={self.user}:{self.password}\n"

    def command(self, binary: str = "turnserver") -> list[str]:
        """The turnserver command line (without the netns and setpriv wrappers); no credential in it."""
        folder = self.log_path.parent
        loopback = ipaddress.ip_address(self.listen_ip).is_loopback
        return [
            binary, "-c", str(self.config_path), f"--listening-ip={self.listen_ip}", f"--relay-ip={self.listen_ip}",
            f"--listening-port={self.port}",
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
        if setpriv is not None:  # against the guard, whose only thread lives as long as coturn
            prefix += [setpriv, "--pdeathsig", "TERM", "--"]

        remove_stale_folders()
        if self._workdir is None:
            self._tempdir = tempfile.mkdtemp(prefix=_FOLDER_PREFIX)  # mode 0700
            folder = Path(self._tempdir)
            (folder / _OWNER_FILE).write_text(f"{os.getpid()} {process_start_time(os.getpid())}\n")
        else:
            self._workdir.mkdir(parents=True, exist_ok=True)
            folder = self._workdir
        self.log_path = folder / "turnserver.log"
        remove = (self._tempdir,) if self._tempdir is not None else (str(self.config_path),)
        watch_r = watch_w = status_r = status_w = -1
        try:
            if self._requested_port == 0:
                self.port = free_port(self.listen_ip, self.netns)
            self._write_config()
            watch_r, watch_w = os.pipe()
            status_r, status_w = os.pipe()
            job = {"status_fd": status_w, "stop_s": self.settings.turn_stop_timeout_s, "remove": list(remove),
                   "command": prefix + self.command(binary)}
            with self.log_path.open("wb") as log:
                self._process = subprocess.Popen(
                    [sys.executable, "-I", "-c", _GUARD, json.dumps(job)], stdin=watch_r, stdout=log,
                    stderr=subprocess.STDOUT, cwd=folder, pass_fds=(status_w,), start_new_session=True)
            os.close(watch_r)
            os.close(status_w)
            watch_r = status_w = -1
            self._watch_fd, watch_w = watch_w, -1
            self._turn_pid = self._read_status(status_r)
        except OSError as exc:
            self._abort_start(remove)
            raise CoturnError(f"cannot run turnserver: {exc}") from None
        except BaseException:
            self._abort_start(remove)
            raise
        finally:
            for fd in (watch_r, watch_w, status_r, status_w):
                if fd >= 0:
                    os.close(fd)
        self._finalizer = weakref.finalize(self, _stop_guard, self._process, self._watch_fd, self._turn_pid,
                                           self.settings.turn_stop_timeout_s, remove)

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
        """SIGTERM, wait ``turn_stop_timeout_s``, then SIGKILL; the credential file goes too. Idempotent."""
        process, self._process = self._process, None
        watch_fd, self._watch_fd = self._watch_fd, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if process is not None:
            _stop_guard(process, watch_fd, self._turn_pid, self.settings.turn_stop_timeout_s, ())
        self._remove_files()

    def _write_config(self) -> None:
        """The credential file, created 0600 (never readable by others, not even for a moment)."""
        path = self.config_path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as config:
            os.fchmod(config.fileno(), 0o600)  # an older file of the caller's may have had another mode
            config.write(self.config_text())

    def _read_status(self, status_fd: int) -> int:
        """turnserver's pid, as the guard reports it."""
        ready, _, _ = select.select([status_fd], [], [], self.settings.turn_start_timeout_s)
        line = os.read(status_fd, 256).decode(errors="replace").strip() if ready else ""
        if not line.isdigit():
            raise OSError(line.removeprefix("error: ") or "the coturn guard did not start")
        return int(line)

    def _abort_start(self, remove: tuple[str, ...]) -> None:
        process, self._process = self._process, None
        watch_fd, self._watch_fd = self._watch_fd, None
        if process is not None:
            _stop_guard(process, watch_fd, None, self.settings.turn_stop_timeout_s, remove)
        self._remove_files()

    def _remove_files(self) -> None:
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None
        elif self._workdir is not None:
            self.config_path.unlink(missing_ok=True)

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


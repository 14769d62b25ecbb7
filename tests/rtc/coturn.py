"""The product's :class:`callprobe.net.coturn.Coturn`, in the shape the RTC tests use.

coturn (Debian package ``coturn``) must be installed: tests that use it fail,
rather than skip, when ``turnserver`` is missing.
"""

from __future__ import annotations

from pathlib import Path

from callprobe.net import coturn as _coturn


class Coturn(_coturn.Coturn):
    """``with Coturn(workdir) as turn:`` runs turnserver on loopback until the block ends."""

    def __init__(self, workdir: Path, user: str = "probe", password: str = "secret123") -> None:
        super().__init__(user=user, password=password, workdir=workdir)

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}"


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    return _coturn.free_port("127.0.0.1")


def stun_binding_ok(port: int, timeout: float = 0.2) -> bool:
    """True when a STUN Binding request to 127.0.0.1:port gets a success response."""
    return _coturn.stun_binding_ok("127.0.0.1", port, timeout)

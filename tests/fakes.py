"""Fakes the test folders share: hand-built events, timeline queries, an in-memory KKIM gateway.

Rules, metrics and reporters are pure functions of recorded events, so the
events built here are real input. ``MemoryGateway`` answers a sans-I/O
``KkimClient`` with scripted frames, so driver logic is tested without a
socket.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from callprobe.timeline.events import Event, make_event

E = TypeVar("E", bound=Event)


def ev(t: float, agent: str, kind: str, **fields: Any) -> Event:
    """An event from a kind string and JSON-named fields (``from``, ``type`` included)."""
    return make_event(kind, t, agent, **fields)


def fields(e: Event) -> dict[str, Any]:
    """An event's fields as its report shows them (JSON names)."""
    return {k: v for k, v in e.to_json().items() if k not in ("t_ms", "agent", "kind")}


def select(events: Iterable[Event], kind: type[E] | str | None = None, agent: str | None = None,
           **match: Any) -> list[Any]:
    """Events of a kind (class or kind string) and agent whose JSON fields equal every ``match``."""
    out = []
    for e in events:
        if isinstance(kind, str) and e.kind != kind:
            continue
        if isinstance(kind, type) and not isinstance(e, kind):
            continue
        if agent is not None and e.agent != agent:
            continue
        if match:
            f = fields(e)
            if any(f.get(k) != v for k, v in match.items()):
                continue
        out.append(e)
    return out


def first(events: Iterable[Event], kind: type[E] | str | None = None, agent: str | None = None,
          **match: Any) -> Any:
    found = select(events, kind, agent, **match)
    return found[0] if found else None


# ------------------------------------------------------------------ the KKIM client core in memory


class MemoryGateway:
    """Answers a sans-I/O ``KkimClient`` in memory, with a clock the test moves.

    ``pump()`` takes what the client queued: the frames it would send are
    decoded into ``requests`` (text pings into ``pings``), everything else
    (events, notices, replies, failures) is returned in order. ``reply``,
    ``push`` and ``frame`` hand frames back to the client.
    """

    def __init__(self, client: Any) -> None:
        from callprobe.backends.kkim.protocol import envelope

        self._envelope = envelope
        self.client = client
        self.now_ms = 0.0
        self.requests: list[Any] = []
        self.pings: list[str] = []

    def pump(self) -> list[Any]:
        from callprobe.backends.kkim.client import Send

        out = []
        for item in self.client.outputs():
            if isinstance(item, Send):
                if isinstance(item.frame, str):
                    self.pings.append(item.frame)
                else:
                    raw = self._envelope.unpack(item.frame, self.client.compression)
                    self.requests.append(self._envelope.decode_request(raw))
            else:
                out.append(item)
        return out

    def tick(self, ms: float) -> None:
        self.now_ms += ms

    def frame(self, resp: Any) -> list[Any]:
        """Deliver one Resp to the client; its outputs."""
        self.client.receive_binary(self._envelope.encode_response(resp), self.now_ms)
        return self.pump()

    def reply(self, req: Any, data: bytes = b"", err_code: int = 0, err_msg: str = "") -> list[Any]:
        from callprobe.backends.kkim.protocol.envelope import Response

        return self.frame(Response(req.req_identifier, req.msg_incr, req.operation_id, err_code, err_msg,
                                   data if not err_code else None))

    def push(self, *msgs: Any, operation_id: str = "push") -> list[Any]:
        from callprobe.backends.kkim.protocol._pb.openim import sdkws_pb2
        from callprobe.backends.kkim.protocol.envelope import Response

        push = sdkws_pb2.PushMessages()
        for msg in msgs:
            lo, hi = sorted((msg.sendID, msg.recvID))
            push.msgs[f"si_{lo}_{hi}"].Msgs.append(msg)
        return self.frame(Response(2001, "", operation_id, 0, "", push.SerializeToString()))


def recorded(outputs: list[Any]) -> list[Event]:
    """The timeline events among a client's outputs."""
    from callprobe.backends.base import Record

    return [o.event for o in outputs if isinstance(o, Record)]


def delivered(outputs: list[Any]) -> list[Any]:
    """The notices among a client's outputs."""
    from callprobe.backends.base import Deliver

    return [o.notice for o in outputs if isinstance(o, Deliver)]


def run_cli(args: list[str]) -> tuple[int, str]:
    """``callprobe ARGS`` in-process through the CLI's own error boundary: (exit code, stdout+stderr)."""
    import contextlib
    import io

    from callprobe.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            code = main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return int(code or 0), buf.getvalue()

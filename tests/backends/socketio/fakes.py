"""The Socket.IO client core in memory: a scripted server that answers ``SocketioClient`` with a clock the test moves.

``MemoryChat.pump()`` takes what the client queued: the emits it would send
go to ``emits`` (to be acknowledged with ``ack``), everything else (events,
notices, replies, failures) is returned in order. ``push`` hands the client a
server event. No socket, no event loop.
"""

from __future__ import annotations

from typing import Any

from callprobe.backends.base import Deliver, Record
from callprobe.backends.socketio.client import Emit, SocketioClient
from callprobe.backends.socketio.config import SocketioOptions
from callprobe.timeline.events import Event

ALICE_ID, BOB_ID = "1", "2"


class MemoryChat:
    def __init__(self, client: SocketioClient) -> None:
        self.client = client
        self.now_ms = 0.0
        self.emits: list[Emit] = []

    def pump(self) -> list[Any]:
        out = []
        for item in self.client.outputs():
            if isinstance(item, Emit):
                self.emits.append(item)
            else:
                out.append(item)
        return out

    def tick(self, ms: float) -> None:
        self.now_ms += ms

    def last(self, event: str | None = None) -> Emit:
        found = [e for e in self.emits if event is None or e.event == event]
        assert found, f"no emit {event!r}; emitted: {[e.event for e in self.emits]}"
        return found[-1]

    def ack(self, emit: Emit, *args: Any) -> list[Any]:
        self.client.receive_ack(emit.ack_id, list(args), self.now_ms)
        return self.pump()

    def push(self, event: str, *args: Any) -> list[Any]:
        self.client.receive_event(event, list(args), self.now_ms)
        return self.pump()


def chat(user_id: str = ALICE_ID, agent: str = "alice", options: SocketioOptions | None = None) -> MemoryChat:
    return MemoryChat(SocketioClient(agent=agent, user_id=user_id, options=options or SocketioOptions()))


def recorded(outputs: list[Any]) -> list[Event]:
    return [o.event for o in outputs if isinstance(o, Record)]


def delivered(outputs: list[Any]) -> list[Any]:
    return [o.notice for o in outputs if isinstance(o, Deliver)]


def kinds(outputs: list[Any]) -> list[str]:
    return [e.kind for e in recorded(outputs)]


def row(row_id: int, sender: int, receiver: int, text: str = "hi", message_type: str = "text",
        invitation: dict[str, Any] | None = None) -> dict[str, Any]:
    """A message row as the reference server pushes it."""
    return {"id": row_id, "sender_id": sender, "receiver_id": receiver, "message": text,
            "message_type": message_type,
            "extra_data": {"call_invitation": invitation} if invitation is not None else None,
            "is_read": False, "created_at": "2026-01-01T12:00:00+00:00"}


def invitation(call_id: str = "c1", caller: int = 1, status: str | None = "pending") -> dict[str, Any]:
    out: dict[str, Any] = {"call_id": call_id, "room_name": f"call-{call_id}", "caller_id": caller,
                           "caller_name": "alice", "call_type": "video"}
    if status is not None:
        out["status"] = status
    return out

"""Pass 3 of the loader for ``steps``: each step's meaning, in file order.

Walking the steps in order lets the loader catch what only order shows: an
agent acting before it connected, an accept with no invite before it, an
outcome of a call not yet placed. These *order* checks stop after a step
that failed the shape check, since what that step did is unknown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from callprobe.scenario.model import Action, AgentConfig, Expectation, Step
from callprobe.scenario.source import FieldPath, Source
from callprobe.scenario.values import quoted, suggest


class Context(Protocol):
    """What the step checks need from the loader's checker."""

    source: Source
    agents: dict[str, AgentConfig]

    def error(self, path: FieldPath, message: str) -> None: ...

    def text(self, path: FieldPath, value: Any) -> str: ...

    def agent_ref(self, path: FieldPath, value: Any) -> str | None: ...

    def user_of(self, name: str) -> str: ...

    def duration(self, path: FieldPath, value: Any) -> float | None: ...


class StepPlay:
    """Walks the steps in order, tracking who is connected and who was called.

    ``family`` is the scenario's backend family: steps about call rooms
    (``join_room``, an invite's ``join_order``) need one whose parties meet
    in a room.
    """

    def __init__(self, checker: Context, family: str = "kkim") -> None:
        self.c = checker
        self.family = family
        self.connected: dict[str, int] = {}       # agent -> line of its connect
        self.ever_connected: set[str] = set()
        self.callers: set[str] = set()
        self.invited_users: set[str] = set()
        self.invites = 0                          # invite steps so far: each places one call
        self.lost_track = False                   # a broken step came before: skip order checks
        self.parties: dict[int, tuple[str, set[str]]] = {}  # call -> (caller, invited users)
        self.join_orders: dict[int, str] = {}     # call -> join_order written on its invite
        self.joined_by_steps: set[int] = set()    # calls whose parties enter the room by join_room steps

    def has_rooms(self, path: FieldPath, what: str) -> bool:
        """Whether the backend's parties meet in a call room; an error naming ``what`` otherwise."""
        from callprobe.backends.registry import FAMILIES

        if self.family in FAMILIES and FAMILIES[self.family].rooms:
            return True
        with_rooms = ", ".join(name for name, fam in FAMILIES.items() if fam.rooms)
        self.c.error(path, f"{what} needs a backend whose parties meet in a call room; the {self.family} "
                           f"backend has no call rooms (backends with rooms: {with_rooms})")
        return False

    def finish(self, steps: Iterable[Step]) -> tuple[Step, ...]:
        """The steps, with each invite whose room is entered by ``join_room`` steps marked so."""
        out: list[Step] = []
        for step in steps:
            if (isinstance(step, Action) and step.verb == "invite"
                    and step.params.get("call") in self.joined_by_steps):
                step = dataclasses.replace(step, params={**step.params, "join_order": "steps"})
            out.append(step)
        return tuple(out)

    def order_error(self, path: FieldPath, message: str) -> None:
        """An error that depends on earlier steps; dropped once an earlier step was broken."""
        if not self.lost_track:
            self.c.error(path, message)

    def step(self, path: FieldPath, verb: str, value: Any) -> Step | None:
        line = self.c.source.value_line(path) or 0
        text = self.c.source.snippet(path)
        handler: Callable[[FieldPath, Any, int, str], Step | None] = getattr(self, f"_{verb}")
        return handler(path + (verb,), value, line, text)

    # -------------------------------------------------------------- helpers

    def names(self, path: FieldPath, value: Any) -> tuple[str, ...] | None:
        """An agent name or a list of them, each known and listed once."""
        items = [(path + (i,), v) for i, v in enumerate(value)] if isinstance(value, list) else [(path, value)]
        out: list[str] = []
        for item_path, name in items:
            known = self.c.agent_ref(item_path, name)
            if known is None:
                continue
            if known in out:
                self.c.error(item_path, f"agent {known!r} is listed twice")
                continue
            out.append(known)
        return tuple(out) if len(out) == len(items) else None

    def must_be_connected(self, path: FieldPath, name: str, doing: str) -> None:
        if name not in self.connected:
            again = "reconnect" if name in self.ever_connected else "connect"
            self.order_error(path, f"{name} is not connected when it would {doing}; "
                               f"add '- {again}: {name}' before this step")

    # -------------------------------------------------------------- actions

    def _connection(self, verb: str, path: FieldPath, value: Any, line: int, text: str) -> Step | None:
        names = self.names(path, value)
        if names is None:
            self.lost_track = True
            return None
        for index, name in enumerate(names):
            where = path + (index,) if isinstance(value, list) else path
            if verb == "connect":
                if name in self.connected:
                    self.order_error(where, f"{name} is already connected (line {self.connected[name]}); "
                                        "use reconnect to drop and open the connection again")
                self.connected[name] = line
                self.ever_connected.add(name)
            elif verb == "disconnect":
                if name not in self.connected:
                    self.order_error(where, f"{name} is not connected, so it cannot disconnect")
                self.connected.pop(name, None)
            else:  # reconnect
                if name not in self.ever_connected:
                    self.order_error(where, f"{name} was never connected; use connect first")
                self.connected[name] = line
        return Action(line, text, verb, None, names, {})

    def _connect(self, path: FieldPath, value: Any, line: int, text: str) -> Step | None:
        return self._connection("connect", path, value, line, text)

    def _disconnect(self, path: FieldPath, value: Any, line: int, text: str) -> Step | None:
        return self._connection("disconnect", path, value, line, text)

    def _reconnect(self, path: FieldPath, value: Any, line: int, text: str) -> Step | None:
        return self._connection("reconnect", path, value, line, text)

    def _invite(self, path: FieldPath, value: dict[str, Any], line: int, text: str) -> Step | None:
        caller = self.c.agent_ref(path + ("from",), value["from"])
        callees = self.names(path + ("to",), value["to"])
        self.invites += 1
        if caller is None or callees is None:
            self.lost_track = True
            return None
        self.must_be_connected(path + ("from",), caller, "invite")
        to_path = path + ("to",)
        users: dict[str, str] = {}
        for index, callee in enumerate(callees):
            where = to_path + (index,) if isinstance(value["to"], list) else to_path
            user = self.c.user_of(callee)
            if callee == caller:
                self.c.error(where, f"the invite 'to' names the caller {caller!r}; "
                                    "an agent cannot call itself")
            elif user == self.c.user_of(caller):
                self.c.error(where, f"{callee!r} is the caller's own user {user!r}; every device of "
                                    "an invited user rings, so a user cannot call itself")
            elif user in users:
                self.c.error(where, f"{callee!r} and {users[user]!r} are the same user {user!r}; "
                                    "invite the user once: all its devices ring")
            users.setdefault(user, callee)
        self.callers.add(caller)
        self.invited_users.update(users)
        self.parties[self.invites] = (caller, set(users))
        caller_cfg = self.c.agents.get(caller)
        media = value.get("media") or (caller_cfg.media if caller_cfg else "video")
        timeout = value.get("timeout_s")  # the schema let through whole numbers only (2.0 too)
        order = value.get("join_order")
        if order is not None and self.has_rooms(path + ("join_order",), "join_order"):
            self.join_orders[self.invites] = str(order)
        params = {"media": media, "timeout_s": None if timeout is None else int(timeout), "call": self.invites}
        if order is not None:
            params["join_order"] = str(order)
        return Action(line, text, "invite", caller, callees, params)

    def _call_action(self, verb: str, path: FieldPath, value: Any, line: int, text: str) -> Step | None:
        agent_path = path + ("agent",) if isinstance(value, dict) else path
        name = self.c.agent_ref(agent_path, value["agent"] if isinstance(value, dict) else value)
        if name is None:
            return None
        self.must_be_connected(agent_path, name, verb)
        user = self.c.user_of(name)
        if verb in ("accept", "reject") and user not in self.invited_users:
            self.order_error(agent_path, f"{name} cannot {verb}: no earlier invite calls its user {user!r}")
        elif verb == "cancel" and name not in self.callers:
            self.order_error(agent_path, f"{name} cannot cancel: it has not invited anyone in an earlier step")
        elif verb == "hangup" and name not in self.callers and user not in self.invited_users:
            self.order_error(agent_path, f"{name} cannot hang up: no earlier invite involves it")
        return Action(line, text, verb, name, (), {})

    def _accept(self, path: FieldPath, value: Any, line: int, text: str) -> Step | None:
        return self._call_action("accept", path, value, line, text)

    def _reject(self, path: FieldPath, value: Any, line: int, text: str) -> Step | None:
        return self._call_action("reject", path, value, line, text)

    def _cancel(self, path: FieldPath, value: Any, line: int, text: str) -> Step | None:
        return self._call_action("cancel", path, value, line, text)

    def _hangup(self, path: FieldPath, value: Any, line: int, text: str) -> Step | None:
        return self._call_action("hangup", path, value, line, text)

    def _join_room(self, path: FieldPath, value: Any, line: int, text: str) -> Step | None:
        """The agent enters its current call's room: the call's join order is then the steps'."""
        if not self.has_rooms(path, "join_room"):
            return None
        step = self._call_action("join_room", path, value, line, text)
        if step is None or step.agent is None:
            return step
        user = self.c.user_of(step.agent)
        calls = [n for n, (caller, users) in self.parties.items() if caller == step.agent or user in users]
        if not calls:
            self.order_error(path, f"{step.agent} cannot join a room: no earlier invite involves it")
            return step
        call = calls[-1]
        if call in self.join_orders:
            self.order_error(path, f"call {call} already says join_order: {self.join_orders[call]}; drop "
                                   "it to enter the room by join_room steps, or drop these steps")
        self.joined_by_steps.add(call)
        return step

    def _send_text(self, path: FieldPath, value: dict[str, Any], line: int, text: str) -> Step | None:
        sender = self.c.agent_ref(path + ("from",), value["from"])
        receivers = self.names(path + ("to",), value["to"])
        if sender is None or receivers is None:
            return None
        self.must_be_connected(path + ("from",), sender, "send a text")
        for index, receiver in enumerate(receivers):
            where = path + ("to", index) if isinstance(value["to"], list) else path + ("to",)
            if self.c.user_of(receiver) == self.c.user_of(sender):
                self.c.error(where, f"{receiver!r} is the sender's own user; the gateway refuses "
                                    "a message to oneself (errCode 1004)")
        body = self.c.text(path + ("text",), value["text"])
        return Action(line, text, "send_text", sender, receivers, {"text": body})

    def _wait(self, path: FieldPath, value: Any, line: int, text: str) -> Step | None:
        seconds = self.c.duration(path, value)
        if seconds is None:
            return None
        return Action(line, text, "wait", None, (), {"duration_s": seconds})

    # -------------------------------------------------------------- expect

    def _expect(self, path: FieldPath, value: dict[str, Any], line: int, text: str) -> Step | None:
        event, outcome, finding = value.get("event"), value.get("outcome"), value.get("finding")
        if finding is not None:
            if not self._finding(path, value):
                return None
        elif event is None and outcome is None:
            self.c.error(path, "an expectation needs event (ringing, answered, ...) or outcome "
                               "(answered, rejected, ...), or a finding code (finding: ICE_FAILED)")
            return None
        if event is not None and outcome is not None:
            self.c.error(path + ("outcome",), "give event or outcome, not both; use two expect steps")
            return None
        agent = None
        if "agent" in value:
            agent = self.c.agent_ref(path + ("agent",), value["agent"])
            if agent is None:
                return None
        absent = bool(value.get("absent", False))
        if outcome is not None:
            for key in ("agent", "absent", "for", "direction", "via"):
                if key in value:
                    self.c.error(path + (key,), f"{key} does not apply to an outcome (the outcome "
                                                "is the call's); use call: N to pick the call")
        if "direction" in value and event != "media_flowing":
            self.c.error(path + ("direction",), "direction applies to event media_flowing only")
        if "via" in value and event != "ice_connected":
            self.c.error(path + ("via",), "via applies to event ice_connected only")
        if absent and "within" in value:
            self.c.error(path + ("within",), "an absent expectation takes 'for' (how long nothing "
                                             "may happen), not 'within'")
        if "for" in value and not absent:
            self.c.error(path + ("for",), "'for' goes with absent: true; for an event that must "
                                          "happen use 'within'")
        if outcome is not None and self.invites == 0:
            self.order_error(path + ("outcome",), "no invite before this step, so there is no call "
                                              "to have an outcome")
        call = None if value.get("call") is None else int(value["call"])  # 2.0 passes the schema
        if call is not None and call > self.invites:
            placed = self.invites
            self.order_error(path + ("call",), f"call {call} does not exist at this step: "
                         f"{placed} call{'s' if placed != 1 else ''} placed before it")
        within = self.c.duration(path + ("within",), value["within"]) if "within" in value else None
        for_s = self.c.duration(path + ("for",), value["for"]) if "for" in value else None
        if ("within" in value and within is None) or ("for" in value and for_s is None):
            return None
        direction = str(value.get("direction", "both")) if event == "media_flowing" else None
        return Expectation(line, text, event=event, agent=agent, within_s=within, absent=absent,
                           for_s=for_s, outcome=outcome, direction=direction, call_index=call,
                           via=str(value["via"]) if event == "ice_connected" and "via" in value else None,
                           finding=None if finding is None else str(finding))

    def _finding(self, path: FieldPath, value: dict[str, Any]) -> bool:
        """``{finding: CODE}``: a known code, and none of the keys that pick an event or a call."""
        from callprobe.analysis.diagnostics.findings import CODES

        code = str(value["finding"])
        ok = code in CODES
        if not ok:
            self.c.error(path + ("finding",), f"unknown finding code {quoted(code)}{suggest(code, CODES)}; "
                                              f"expected one of: {', '.join(CODES)}")
        for key in ("event", "outcome", "agent", "direction", "via", "call"):
            if key in value:
                self.c.error(path + (key,), f"{key} does not apply to a finding (the rules judge the whole run "
                                            "so far); use a separate expect step")
                ok = False
        return ok

"""Pass 3 of the loader for ``steps``: each step's meaning, in file order.

Walking the steps in order lets the loader catch what only order shows: an
agent acting before it connected, an accept with no invite before it, an
outcome of a call not yet placed. These *order* checks stop after a step
that failed the shape check, since what that step did is unknown.

External parties (``docs/peers.md#external-parties``) are users callprobe
does not play: they are invited and call in, but never act in a step, and
an expectation about one is refused, since nothing of theirs can be seen. A
``ringing`` expectation on an agent whose user no earlier invite calls waits
for a call from anyone: it counts as a call placed, and the agent may then
accept, reject or hang up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from callprobe.scenario.model import Action, AgentConfig, Expectation, Step
from callprobe.scenario.source import FieldPath, Source
from callprobe.scenario.values import suggest


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
        self.invites = 0                          # calls so far: invite steps and calls awaited from anyone
        self.awaited_users: set[str] = set()      # users of agents awaiting a call from anyone
        self.last_call: tuple[str, ...] = ()      # the latest call's parties; "" for an unnamed external caller
        self.call_over = False                    # a step ended the latest call (reject, hangup, hung_up seen)
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
        out: dict[str, None] = {}  # in order, and a lookup that does not grow with the list
        for item_path, name in items:
            known = self.c.agent_ref(item_path, name)
            if known is None:
                continue
            if known in out:
                self.c.error(item_path, f"agent {known!r} is listed twice")
                continue
            out[known] = None
        return tuple(out) if len(out) == len(items) else None

    def external(self, name: str) -> bool:
        cfg = self.c.agents.get(name)
        return cfg is not None and cfg.external

    def must_play(self, path: FieldPath, name: str, doing: str) -> bool:
        """An external party never acts: callprobe does not play it."""
        if self.external(name):
            self.c.error(path, f"{name} is external: callprobe does not play it, so it cannot {doing}; "
                               "a real client acts for it")
            return False
        return True

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
            if not self.must_play(where, name, verb):
                continue
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
        if not self.must_play(path + ("from",), caller, "invite"):
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
        self.last_call = (caller, *callees)
        self.call_over = False
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
        if not self.must_play(agent_path, name, verb):
            return None
        self.must_be_connected(agent_path, name, verb)
        user = self.c.user_of(name)
        called = user in self.invited_users or user in self.awaited_users
        if verb in ("accept", "reject") and not called:
            self.order_error(agent_path, f"{name} cannot {verb}: no earlier invite calls its user {user!r}, "
                                         f"and no earlier 'expect: {{agent: {name}, event: ringing}}' waits "
                                         "for a call from anyone")
        elif verb == "cancel" and name not in self.callers:
            self.order_error(agent_path, f"{name} cannot cancel: it has not invited anyone in an earlier step")
        elif verb == "hangup" and name not in self.callers and not called:
            self.order_error(agent_path, f"{name} cannot hang up: no earlier invite involves it")
        if verb in ("reject", "cancel", "hangup") and name in self.last_call:
            self.call_over = True
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
        if not self.must_play(path + ("from",), sender, "send a text"):
            return None
        self.must_be_connected(path + ("from",), sender, "send a text")
        for index, receiver in enumerate(receivers):
            where = path + ("to", index) if isinstance(value["to"], list) else path + ("to",)
            if self.c.user_of(receiver) == self.c.user_of(sender):
                self.c.error(where, f"{receiver!r} is the sender's own user; the gateway refuses "
                                    "a message to oneself (errCode 1004)")
        body = self.c.text(path + ("text",), value["text"])
        return Action(line, text, "send_text", sender, receivers, {"text": body})

    def _awaits_call(self, agent: str) -> None:
        """A ring no earlier invite explains: the agent waits for a call from anyone, one call more."""
        user = self.c.user_of(agent)
        if (user in self.invited_users and not self.call_over
                and any(self.c.user_of(p) == user for p in self.last_call[1:])):
            return  # the ring of the latest invite
        if user in self.awaited_users and agent in self.last_call and not self.call_over:
            return  # another look at the same awaited call
        self.invites += 1
        self.awaited_users.add(user)
        self.last_call = ("", agent)
        self.call_over = False

    def _wait(self, path: FieldPath, value: Any, line: int, text: str) -> Step | None:
        seconds = self.c.duration(path, value)
        if seconds is None:
            return None
        return Action(line, text, "wait", None, (), {"duration_s": seconds})

    # -------------------------------------------------------------- expect

    def _expect(self, path: FieldPath, value: dict[str, Any], line: int, text: str) -> Step | None:
        event, outcome, finding = value.get("event"), value.get("outcome"), value.get("finding")
        given = [k for k, v in (("event", event), ("outcome", outcome), ("finding", finding)) if v is not None]
        if not given:
            self.c.error(path, "an expectation needs event (ringing, answered, ...) or outcome "
                               "(answered, rejected, ...), or finding (a diagnostic code)")
            return None
        if len(given) > 1:
            if "finding" in given:
                for key in given:
                    if key != "finding":
                        self.c.error(path + (key,), f"{key} does not apply to a finding (the rules judge the whole "
                                                    "run so far); use a separate expect step")
            else:
                self.c.error(path + (given[1],), f"give one of event, outcome and finding, not both {given[0]} "
                                                f"and {given[1]}; use one expect step each")
            return None
        agent = None
        if "agent" in value and finding is None:
            agent = self.c.agent_ref(path + ("agent",), value["agent"])
            if agent is None:
                return None
            if self.external(agent):
                self.c.error(path + ("agent",), unjudgeable(agent, str(event or "")))
                return None
        absent = bool(value.get("absent", False))
        if event == "ringing" and agent is not None and not absent:
            self._awaits_call(agent)
        elif event in ("hung_up", "cancelled", "call_timeout") and agent in self.last_call and not absent:
            self.call_over = True
        if event == "media_flowing" and agent is not None and value.get("direction") == "from":
            others = [p for p in self.last_call if p != agent]
            if others and all(p == "" or self.external(p) for p in others):
                names = ", ".join(p or "the external caller" for p in others)
                self.c.error(path + ("direction",), f"cannot be judged: media from {agent} would reach "
                                                    f"{names}, which callprobe does not play; expect "
                                                    f"direction: to (media reaching {agent}) instead")
        if outcome is not None:
            for key in ("agent", "absent", "for", "direction", "via"):
                if key in value:
                    self.c.error(path + (key,), f"{key} does not apply to an outcome (the outcome "
                                                "is the call's); use call: N to pick the call")
        if finding is not None:
            for key in ("agent", "direction", "via", "call"):
                if key in value:
                    self.c.error(path + (key,), f"{key} does not apply to a finding (findings are the run's, "
                                                "judged on its whole timeline so far)")
            self._finding_code(path + ("finding",), str(finding))
        if "direction" in value and event != "media_flowing" and finding is None:
            self.c.error(path + ("direction",), "direction applies to event media_flowing only")
        if "via" in value and event != "ice_connected" and finding is None:
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
        call = None if value.get("call") is None or finding is not None else int(value["call"])  # 2.0 passes
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
                           finding=str(finding) if finding is not None else None)

    def _finding_code(self, path: FieldPath, code: str) -> None:
        """A code of the findings catalogue (``docs/field-failures.md`` names them)."""
        from callprobe.analysis.diagnostics.findings import CODES  # only when a scenario expects one

        if code not in CODES:
            self.c.error(path, f"unknown finding code {code!r}{suggest(code, CODES)}; "
                               f"expected one of {', '.join(CODES)}")


#: What can be judged instead of an event on an external party, by event.
_INSTEAD = {
    "ringing": "expect invite_acked on the caller (the gateway took the invite)",
    "answered": "expect answered on the agent it called",
    "hung_up": "expect hung_up on the agent in the call with it",
    "media_flowing": "expect media_flowing with agent: <the agent> and direction: to",
    "ice_connected": "expect ice_connected on the agent in the call with it",
}


def unjudgeable(name: str, event: str) -> str:
    """Why an expectation about an external party is refused, and what to expect instead."""
    instead = _INSTEAD.get(event, "expect what the agents in the call with it see")
    return (f"cannot be judged: {name} is external, and callprobe sees only what the gateway tells "
            f"its own agents; {instead}")

"""Live progress of ``run`` and ``diagnose``: a timeline listener, never prints inside the engine.

Subscribed to the run's ``Timeline`` (``Timeline.subscribe``), it prints each
scenario step and expectation (``StepFinished``, ``ExpectationJudged``) or
each diagnose link (``LinkJudged``) as it completes, ✓/✗ with its run time
and how long it took. A wait (``Waiting``) shows what it waits for and its
deadline: on a terminal in a spinner line that counts down; elsewhere (a
pipe, a CI log) as a plain line, printed only when the wait is still going
after ``WAIT_NOTICE_S``, so quick waits add no noise.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from rich.console import Console, RenderableType
from rich.status import Status
from rich.text import Text

from callprobe.timeline.events import (
    Event,
    ExpectationJudged,
    LinkJudged,
    RunFinished,
    StepFinished,
    StepStarted,
    Waiting,
)

#: A wait still going after this many seconds gets a plain line (not on a terminal).
WAIT_NOTICE_S = 1.0


def _secs(ms: float) -> str:
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms"


class _Countdown:
    """The spinner's text: what is awaited and the seconds left, computed at each refresh."""

    def __init__(self) -> None:
        self.text = "starting"
        self.until: float | None = None   # time.monotonic() of the deadline
        self.setting = ""

    def __rich__(self) -> RenderableType:
        if self.until is None:
            return Text(self.text)
        left = max(0.0, self.until - time.monotonic())
        return Text(f"{self.text} — {left:.1f} s left" + (f" ({self.setting})" if self.setting else ""))


class Progress:
    """Prints steps, expectations and links as they complete; see the module docstring.

    Use as a context manager around the run, and subscribe the instance to
    its timeline: ``timeline.subscribe(progress)``.
    """

    def __init__(self, console: Console, *, title: str = "") -> None:
        self.console = console
        self.tty = console.is_terminal
        self.title = title
        self._started: dict[tuple[str, str], float] = {}
        self._countdown = _Countdown()
        self._status: Status | None = None
        self._pending: asyncio.TimerHandle | None = None
        self.printed = 0

    def __enter__(self) -> Progress:
        if self.title:
            self.console.print(Text(self.title, style="bold"))
        if self.tty:
            self._status = self.console.status(self._countdown, spinner="dots")
            self._status.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._cancel_pending()
        if self._status is not None:
            self._status.stop()
            self._status = None

    # ------------------------------------------------------------- listener

    def __call__(self, e: Event) -> None:
        if isinstance(e, StepStarted):
            self._started[(e.agent, e.step)] = e.t_ms
            self._wait_over(f"{e.step}" + (f" ({e.agent})" if e.agent else ""))
        elif isinstance(e, Waiting):
            self._waiting(e)
        elif isinstance(e, ExpectationJudged):
            began = self._started.pop(("", e.text), e.t_ms)
            self._line(e.passed, f"line {e.line}  {e.text}", e.t_ms, e.t_ms - began,
                       "" if e.passed else e.detail)
        elif isinstance(e, StepFinished) and e.line is not None:  # a scenario action
            began = self._started.pop(("", e.step), e.t_ms)
            self._line(e.ok, f"line {e.line}  {e.step}", e.t_ms, e.t_ms - began, "" if e.ok else e.error)
        elif isinstance(e, LinkJudged):
            began = self._started.pop((e.agent, e.step), e.t_ms)
            what = e.link if e.step in (e.link, "invite", "connect", "answer") else f"{e.link}: {e.step}"
            what += f" ({e.agent})" if e.agent else ""
            # the finding itself prints once, in the findings section: here its code only
            self._line(e.ok, what, e.t_ms, e.t_ms - began, "" if e.ok else e.code or "failed")
        elif isinstance(e, RunFinished):
            self._wait_over("finishing")

    # ------------------------------------------------------------- output

    def _line(self, ok: bool, what: str, at_ms: float, took_ms: float, detail: str) -> None:
        self._wait_over("")
        line = Text(f"  {'✓' if ok else '✗'} ", style="green" if ok else "red")
        line.append(what)
        line.append(f"  +{_secs(at_ms)}, took {_secs(max(0.0, took_ms))}", style="dim")
        if detail:
            line.append(f" — {detail}", style="red")
        self.console.print(line, soft_wrap=not self.tty)
        self.printed += 1

    def _waiting(self, e: Waiting) -> None:
        words = f"waiting for {e.what}"
        deadline = f"deadline +{_secs(e.until_ms)} ({e.seconds:g} s"
        deadline += f", {e.setting})" if e.setting else ")"
        if self.tty:
            self._countdown.text = words
            self._countdown.until = time.monotonic() + e.seconds
            self._countdown.setting = e.setting
            return
        self._cancel_pending()
        line = Text(f"  … {words}, {deadline}", style="dim")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.console.print(line, soft_wrap=True)
            return
        self._pending = loop.call_later(WAIT_NOTICE_S, self.console.print, line)

    def _wait_over(self, now: str) -> None:
        self._cancel_pending()
        if now:
            self._countdown.text = now
        self._countdown.until = None

    def _cancel_pending(self) -> None:
        if self._pending is not None:
            with contextlib.suppress(Exception):
                self._pending.cancel()
            self._pending = None

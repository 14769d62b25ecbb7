"""The terminal report: one table per call, the expectations, one verdict line."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from callprobe.analysis.diagnostics.rules.registry import first_broken_link
from callprobe.analysis.metrics import CANDIDATE_TYPES, CallMetrics
from callprobe.analysis.results import RunResult
from callprobe.reporters.findings import first_words, render_findings

#: Past these, the terminal report summarises (``-v`` and the JSON report hold everything): a run
#: of many calls stays readable, and its verdict stays on the screen.
MAX_CALL_TABLES = 10
MAX_STEP_ROWS = 50
MAX_FINDINGS = 10


def _more_calls(calls: list[CallMetrics], shown: int) -> Text:
    """One line for the calls past ``MAX_CALL_TABLES``: how many, and how they ended."""
    outcomes = Counter(call.outcome for call in calls)
    words = ", ".join(f"{n} {outcome}" for outcome, n in outcomes.most_common())
    return Text(f"calls {shown + 1} to {shown + len(calls)}: {words} (-v or --json for each call's figures)",
                style="bold")


def _steps_shown(result: RunResult, verbose: bool) -> list[Any]:
    """Every step with ``verbose`` or when they fit; else the failed ones first, then the first that
    held, in file order, ``MAX_STEP_ROWS`` in all."""
    if verbose or len(result.steps) <= MAX_STEP_ROWS:
        return list(result.steps)
    failed = [i for i, s in enumerate(result.steps) if not s.passed][:MAX_STEP_ROWS]
    held = [i for i, s in enumerate(result.steps) if s.passed][:MAX_STEP_ROWS - len(failed)]
    return [result.steps[i] for i in sorted(failed + held)]


def _ms(value: float | None, spread: float | None = None) -> str:
    """``12.3 ms``; ``12.3 ms ± 0.4 ms (two clocks)`` for a figure measured across hosts."""
    if value is None:
        return "—"
    return f"{value:.1f} ms" + (f" ± {spread:.1f} ms (two clocks)" if spread is not None else "")


#: How each kind of party is named in the report.
PARTY_WORDS = {"agent": "agent (simulated here)", "browser": "browser", "remote": "remote", "external": "external"}


def parties_table(result: RunResult) -> Table | None:
    """Who each party was, so a reader knows how far each figure can be trusted."""
    parties = result.parties
    if not parties or all(p.role == "agent" for p in parties):
        return None
    table = Table(title="parties", title_justify="left", show_header=False, box=None, padding=(0, 2))
    table.add_column("party", style="bold")
    table.add_column("what")
    for p in parties:
        what = PARTY_WORDS.get(p.role, p.role)
        if p.role == "browser" and p.browser:
            what = f"browser: {p.browser}"
        elif p.role == "remote":
            what = f"remote {p.plays or 'agent'} on {p.host or '?'}"
            if p.clock_uncertainty_ms is not None:
                what += f", clock {p.clock_offset_ms:+.1f} ms ± {p.clock_uncertainty_ms:.1f} ms"
        elif p.role == "external":
            what = "external: not played by callprobe, only what its peers saw"
        table.add_row(p.agent, what)
    return table


def _candidates(counts: dict[str, int]) -> str:
    parts = [f"{counts.get(t, 0)} {t}" for t in CANDIDATE_TYPES if counts.get(t, 0)]
    return ", ".join(parts) or "none"


def call_table(index: int, call: CallMetrics) -> Table:
    callees = ", ".join(i.agent for i in call.invitees) or call.callee or "?"
    title = f"call {index}: {call.caller} → {callees} ({call.media_kind})"
    if call.inbound:
        title += ", placed by a party callprobe does not play"
    spread = call.uncertainty_ms
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    table.add_column("metric", style="bold")
    table.add_column("value")
    outcome_style = "green" if call.outcome == "answered" else "yellow"
    table.add_row("outcome", Text(call.outcome, style=outcome_style))
    table.add_row("room", call.room_id or "—")
    table.add_row("time to ring", _ms(call.time_to_ring_ms, spread.get("time_to_ring_ms")))
    if call.rang:
        table.add_row("rang on", ", ".join(call.rang))
    if len(call.invitees) > 1:  # a call to several users: each one's own part
        for inv in call.invitees:
            rang = f"rang in {_ms(inv.time_to_ring_ms)}" if inv.time_to_ring_ms is not None else "never rang"
            table.add_row(f"  {inv.agent}", f"{inv.outcome}, {rang}")
    paths = [(inv.agent, inv.ring_paths) for inv in call.invitees if inv.ring_paths]
    if any(len(p) > 1 for _, p in paths) or (paths and len(paths) < len(call.invitees)):
        table.add_row("rang via", "; ".join(
            f"{agent}: " + ", ".join(f"{path} +{_ms(ms)}" for path, ms in got.items()) for agent, got in paths))
    elif paths:
        table.add_row("rang via", ", ".join(sorted({path for _, got in paths for path in got})))
    elif call.room_id and call.outcome not in ("busy", "failed"):
        table.add_row("rang via", Text("nothing arrived by any path", style="yellow"))
    table.add_row("time to answer", _ms(call.time_to_answer_ms))
    jn = call.join_notice
    table.add_row("accept notice to caller",
                  f"delivered in {_ms(jn.latency_ms, spread.get('join_notice.latency_ms'))} via {jn.path}"
                  if jn.delivered else "not seen: the caller is not played by callprobe" if not jn.observed
                  else Text("not delivered", style="red") if call.outcome == "answered" else "—")
    for agent, counts in call.ice.get("candidates", {}).items():
        table.add_row(f"ICE gathered ({agent})", _candidates(counts))
    for agent, pair in call.ice.get("selected", {}).items():
        table.add_row(f"selected pair ({agent})", _pair(pair))
    table.add_row("ICE connected after offer", _ms(call.ice.get("connected_ms"), spread.get("ice.connected_ms")))
    relayed = call.ice.get("relayed")
    if relayed is not None:
        table.add_row("TURN needed", "yes: the media runs through a relay" if relayed
                      else "no: a direct path worked")
    for agent, media in call.media.items():
        table.add_row(f"media received ({agent})", _media(media))
    _room_rows(table, call.room)
    hn = call.hangup_notice
    if hn.delivered or call.signaling.get("hung_up_by"):
        table.add_row("hangup notice",
                      f"delivered in {_ms(hn.latency_ms, spread.get('hangup_notice.latency_ms'))} via {hn.path}"
                      if hn.delivered else "not seen: it went to a party callprobe does not play"
                      if not hn.observed else Text("not delivered", style="red"))
    if call.signaling.get("invite_dialect"):
        table.add_row("invite dialect", str(call.signaling["invite_dialect"]))
    return table


def _room_rows(table: Table, room: dict[str, Any]) -> None:
    """Join order, each party's room notices with their times, and the join notice figure."""
    if not room:
        return
    table.add_row("join order", str(room.get("join_order") or "—"))
    for agent, notices in room.get("notices", {}).items():
        table.add_row(f"room notices ({agent})", ", ".join(_room_notice(n) for n in notices))
    jn = room.get("join_notice")
    if jn:
        table.add_row(f"join notice to {jn['to']}",
                      f"delivered in {_ms(jn['latency_ms'])} ({jn['about']} came second)" if jn["delivered"]
                      else Text(f"not delivered: {jn['about']} came, {jn['to']} was never told", style="red"))


def _room_notice(n: dict[str, Any]) -> str:
    """``connection +3 ms [1, 2]``, ``join 2 (bob) +410 ms``: times since the invite."""
    when = f"+{n['at_ms']:.0f} ms"
    if n["notice"] == "connection":
        return f"connection {when} [{', '.join(n.get('users', []))}]"
    who = n.get("user", "") + (f" ({n['username']})" if n.get("username") else "")
    return f"{n['notice']} {who} {when}"


def _pair(pair: dict[str, Any]) -> str:
    """``relay udp 198.51.100.1:50001 → relay 198.51.100.1:50003`` (addresses when known)."""
    local = " ".join(x for x in (pair.get("local"), pair.get("protocol"), pair.get("local_address")) if x)
    remote = " ".join(x for x in (pair.get("remote"), pair.get("remote_address")) if x)
    return f"{local} → {remote}"


def _media(media: dict[str, Any]) -> str:
    """Frames decoded, then the audio path's RTT and jitter and the packets lost
    (per kind from getStats: audio and video figures are never mixed)."""
    text = f"{media.get('audio_frames', 0)} audio / {media.get('video_frames', 0)} video frames"
    extras = []
    for key, label in (("audio_rtt_ms", "rtt"), ("audio_jitter_ms", "audio jitter"),
                       ("video_jitter_ms", "video jitter")):
        if isinstance(media.get(key), (int, float)):
            extras.append(f"{label} {media[key]:.1f} ms")
    lost = [media.get(f"{k}_packets_lost") for k in ("audio", "video")]
    if any(isinstance(n, int) for n in lost):
        extras.append(f"lost {sum(n for n in lost if isinstance(n, int))} packets")
    return text + (f" ({', '.join(extras)})" if extras else "")


def render(result: RunResult, console: Console, verbose: bool = False, live: bool = False) -> None:
    """The report; ``verbose`` adds the ladder diagram of everything that crossed the wire.

    ``live``: a progress reporter already printed each step as it ended, so
    the expectations table is left out.
    """
    if not live:
        console.print(Text(f"{result.scenario}  ({result.file})", style="bold"))
    if verbose and result.events:
        from callprobe.reporters.ladder import build_ladder, render_ladder

        console.print(render_ladder(build_ladder(result.events, result.findings),
                                    width=min(console.width, 160), legend=False))
    parties = parties_table(result)
    if parties is not None:
        console.print(parties)
    if result.aborted:
        console.print(Text(f"run aborted: {result.aborted}", style="red"))
    calls = result.calls if verbose else result.calls[:MAX_CALL_TABLES]
    for index, call in enumerate(calls, start=1):
        console.print(call_table(index, call))
    if len(calls) < len(result.calls):
        console.print(_more_calls(result.calls[len(calls):], len(calls)))
    if result.steps and not live:
        shown = _steps_shown(result, verbose)
        steps = Table(title="expectations", title_justify="left", box=None, padding=(0, 1))
        steps.add_column("", width=2)
        steps.add_column("line", justify="right")
        steps.add_column("step")
        steps.add_column("detail")
        for step in shown:
            mark = Text("✓", style="green") if step.passed else Text("✗", style="red")
            steps.add_row(mark, str(step.line), step.text, step.detail)
        console.print(steps)
        if len(shown) < len(result.steps):
            listed = {id(s) for s in shown}
            hidden = [s for s in result.steps if id(s) not in listed]
            failed = sum(not s.passed for s in hidden)
            console.print(Text(f"  ... {len(hidden)} more steps not shown ({len(hidden) - failed} held, "
                               f"{failed} failed); -v or the JSON report (--json) lists every one", style="dim"))
    render_findings(result.findings, console, first_broken_link(result.findings),
                    limit=None if verbose else MAX_FINDINGS)
    console.print(verdict_line(result))


def verdict_line(result: RunResult) -> Text:
    """PASS, or FAIL with the first failed step and the first broken link by code."""
    failed = len(result.failures)
    total = len(result.steps)
    if result.verdict == "pass":
        return Text(f"PASS  {total}/{total} expectations held in {result.duration_ms / 1000:.2f} s",
                    style="bold green")
    if result.interrupted:
        held = sum(1 for s in result.steps if s.passed)
        line = Text(f"INTERRUPTED  {result.interrupted} after {held} step(s) held and {failed} failed; the reports "
                    "hold what was seen", style="bold red")
    else:
        first = result.failures[0] if result.failures else None
        why = result.aborted or (f"line {first.line}: {first.text}: {first.detail}" if first else "")
        line = Text(f"FAIL  {failed}/{total} failed — {why}", style="bold red")
    broken = first_broken_link(result.findings)
    if broken is not None:
        line.append(f"\n      {first_words(broken)}")
    return line

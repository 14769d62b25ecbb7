"""The terminal report: one table per call, the expectations, one verdict line."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from callprobe.analysis.metrics import CANDIDATE_TYPES, CallMetrics
from callprobe.analysis.results import RunResult


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} ms"


def _candidates(counts: dict[str, int]) -> str:
    parts = [f"{counts.get(t, 0)} {t}" for t in CANDIDATE_TYPES if counts.get(t, 0)]
    return ", ".join(parts) or "none"


def call_table(index: int, call: CallMetrics) -> Table:
    title = f"call {index}: {call.caller} → {call.callee or '?'} ({call.media_kind})"
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    table.add_column("metric", style="bold")
    table.add_column("value")
    outcome_style = "green" if call.outcome == "answered" else "yellow"
    table.add_row("outcome", Text(call.outcome, style=outcome_style))
    table.add_row("room", call.room_id or "—")
    table.add_row("time to ring", _ms(call.time_to_ring_ms))
    if call.rang:
        table.add_row("rang on", ", ".join(call.rang))
    table.add_row("time to answer", _ms(call.time_to_answer_ms))
    jn = call.join_notice
    table.add_row("accept notice to caller",
                  f"delivered in {_ms(jn.latency_ms)} via {jn.path}" if jn.delivered
                  else Text("not delivered", style="red") if call.outcome == "answered" else "—")
    for agent, counts in call.ice.get("candidates", {}).items():
        table.add_row(f"ICE gathered ({agent})", _candidates(counts))
    for agent, pair in call.ice.get("selected", {}).items():
        table.add_row(f"selected pair ({agent})", _pair(pair))
    table.add_row("ICE connected after offer", _ms(call.ice.get("connected_ms")))
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
                      f"delivered in {_ms(hn.latency_ms)} via {hn.path}" if hn.delivered
                      else Text("not delivered", style="red"))
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


def render(result: RunResult, console: Console, verbose: bool = False) -> None:
    """The report; ``verbose`` adds the ladder diagram of everything that crossed the wire."""
    console.print(Text(f"{result.scenario}  ({result.file})", style="bold"))
    if verbose and result.events:
        from callprobe.reporters.ladder import build_ladder, render_ladder

        console.print(render_ladder(build_ladder(result.events, result.findings),
                                    width=min(console.width, 160)))
    if result.aborted:
        console.print(Text(f"run aborted: {result.aborted}", style="red"))
    for index, call in enumerate(result.calls, start=1):
        console.print(call_table(index, call))
    if result.steps:
        steps = Table(title="expectations", title_justify="left", box=None, padding=(0, 1))
        steps.add_column("", width=2)
        steps.add_column("line", justify="right")
        steps.add_column("step")
        steps.add_column("detail")
        for step in result.steps:
            mark = Text("✓", style="green") if step.passed else Text("✗", style="red")
            steps.add_row(mark, str(step.line), step.text, step.detail)
        console.print(steps)
    for finding in result.findings:
        severity = getattr(finding.severity, "value", str(finding.severity))
        style = {"error": "bold red", "warning": "yellow"}.get(severity, "")
        console.print(Text(f"{finding.code} ({severity}) — {finding.title}", style=style))
        if getattr(finding, "detail", ""):
            console.print(f"  what happened: {finding.detail}")
        if getattr(finding, "hint", ""):
            console.print(f"  hint: {finding.hint}")
    failed = len(result.failures)
    total = len(result.steps)
    if result.verdict == "pass":
        line = Text(f"PASS  {total}/{total} expectations held in {result.duration_ms / 1000:.2f} s",
                    style="bold green")
    else:
        first = result.failures[0] if result.failures else None
        why = result.aborted or (f"line {first.line}: {first.text}: {first.detail}" if first else "")
        line = Text(f"FAIL  {failed}/{total} failed — {why}", style="bold red")
        errors = [f for f in result.findings if getattr(f.severity, "value", "") == "error"]
        if errors:
            line.append(f"\n      likely cause: {errors[0].code} — {errors[0].title}")
    console.print(line)

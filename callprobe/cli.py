"""The ``callprobe`` command group; each command lives in ``callprobe.commands``.

This module is the one boundary where ``CallprobeError`` becomes a message and
an exit code: no command prints a traceback for a user's mistake.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Any

import click

from callprobe import __version__
from callprobe.errors import CallprobeError, ExitCode

#: command name -> module in callprobe.commands exposing ``command``.
COMMANDS = {
    "serve": "serve",
    "run": "run",
    "validate": "validate",
    "diagnose": "diagnose",
    "ice-check": "ice_check",
    "lab": "lab",
    "agent": "agent",
    "profile": "profile",
    "load": "load",
}

#: command name -> the first paragraph of its help, so that ``callprobe --help``
#: lists the commands without importing them (tests/test_startup.py keeps these
#: equal to the commands' own help).
SUMMARIES = {
    "serve": "Run an embedded reference server (default: the KKIM gateway, WebSocket + auth API).",
    "run": "Run a call scenario against a gateway and report the call's figures.",
    "validate": "Check scenario files (or directories of them, subdirectories included) without running "
                "anything.",
    "diagnose": "Walk every link of a call (login, handshake, auth, heartbeat, push, invite, ring, accept notice, "
                "SDP/ICE relay, ICE, media, hangup, history, stale state) and name the first broken one with "
                "evidence and a hint.",
    "ice-check": "Check STUN and TURN servers the way a browser's ICE agent uses them.",
    "lab": "Build or remove the NAT lab: a caller and a callee behind NATs (root, Linux).",
    "agent": "Play one agent of a scenario run elsewhere (`callprobe run --remote-agents NAME`).",
    "profile": "Named servers, so `run`, `diagnose` and `ice-check` take `--profile NAME` instead of the same "
               "URLs every day.",
    "load": "Place many calls of one scenario at once, or at a rate, and report percentiles and thresholds.",
}


class LazyGroup(click.Group):
    """Imports a command's module only when it runs: aiortc costs ~0.3 s."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, mod in COMMANDS.items() if _available(mod)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None or not _available(module):
            return None
        return importlib.import_module(f"callprobe.commands.{module}").command  # type: ignore[no-any-return]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from ``SUMMARIES``: listing them imports none (a command without one is imported)."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            summary = SUMMARIES.get(name)
            if summary is None:
                cmd = self.get_command(ctx, name)
                if cmd is None or cmd.hidden:
                    continue
                rows.append((name, cmd.get_short_help_str(limit)))
            else:
                rows.append((name, click.Command(name, help=summary).get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _available(module: str) -> bool:
    return importlib.util.find_spec(f"callprobe.commands.{module}") is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="callprobe")
def cli() -> None:
    """Test and diagnose WebRTC calls through a KKIM message gateway."""


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: map callprobe errors to messages and exit codes."""
    try:
        return cli.main(args=argv, prog_name="callprobe", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except CallprobeError as exc:
        click.echo(f"error: {exc}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the one boundary: never a bare traceback for users
        if os.environ.get("CALLPROBE_TRACEBACK"):
            raise
        click.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo("hint: set CALLPROBE_TRACEBACK=1 to see where it happened", err=True)
        sys.exit(int(ExitCode.INTERNAL))


if __name__ == "__main__":
    main()

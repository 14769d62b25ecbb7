"""Start-up stays light: `callprobe --help` and the road to a run's first login import
none of the heavy libraries (aiortc, av, numpy, aiohttp) before they are used.

The seconds themselves are measured by ``benchmarks/startup.py``; these tests
check what makes them, which cannot flake: the modules a fresh interpreter
has loaded.
"""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from callprobe.cli import COMMANDS, SUMMARIES, cli

HEAVY = ("aiortc", "av", "numpy", "aiohttp")


def loaded_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return list(json.loads(out.strip().splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_library() -> None:
    assert loaded_after("import callprobe.cli") == []


def test_help_loads_no_heavy_library_and_no_command() -> None:
    code = ("import sys\nfrom callprobe.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert not [m for m in sys.modules if m.startswith('callprobe.commands.')], "
            "[m for m in sys.modules if m.startswith('callprobe.commands.')]")
    assert loaded_after(code) == []


def test_the_road_to_the_first_login_loads_no_media_library() -> None:
    """What `run` imports before its first login: the command, the loader, the runner, the driver."""
    code = ("import callprobe.commands.run, callprobe.commands.load, callprobe.scenario.loader, "
            "callprobe.engine.runner, callprobe.engine.agent, callprobe.backends.kkim.driver")
    assert loaded_after(code) == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_help_table_says_what_each_command_says(name: str) -> None:
    command = importlib.import_module(f"callprobe.commands.{COMMANDS[name]}").command
    first = inspect.cleandoc(command.help or "").split("\n\n")[0]
    for limit in (45, 300):
        assert click.Command(name, help=SUMMARIES[name]).get_short_help_str(limit) == command.get_short_help_str(limit)
    assert " ".join(SUMMARIES[name].split()) == " ".join(first.split())


def test_help_lists_every_command() -> None:
    out = CliRunner().invoke(cli, ["--help"]).output
    for name in COMMANDS:
        assert f"  {name} " in out

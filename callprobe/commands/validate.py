"""``callprobe validate``: check scenario files without running them."""

from __future__ import annotations

from pathlib import Path

import click

from callprobe.errors import ExitCode, ScenarioError, exit_codes_epilog
from callprobe.scenario import InvalidScenario, format_problem, load_scenario

_SUFFIXES = (".yaml", ".yml")


def _expand(paths: tuple[Path, ...]) -> list[Path]:
    """Files as given; a directory stands for its ``*.yaml``/``*.yml`` files, in its subdirectories too."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file()))
        else:
            out.append(path)
    return out


def check_file(path: Path) -> tuple[bool, list[str]]:
    """Validate one file; return (ok, the lines to print)."""
    try:
        scenario = load_scenario(path)
    except InvalidScenario as exc:
        return False, [format_problem(str(path), p) for p in exc.problems]
    except ScenarioError as exc:
        return False, [str(exc)]
    agents, steps = len(scenario.agents), len(scenario.steps)
    return True, [f"{path}: ok ({agents} agent{'s' * (agents != 1)}, {steps} step{'s' * (steps != 1)})"]


@click.command("validate", epilog=exit_codes_epilog("validate"))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def command(files: tuple[Path, ...]) -> None:
    """Check scenario files (or directories of them, subdirectories included) without running anything.

    Prints "FILE: ok (N agents, M steps)" for a good file, and one
    "FILE:LINE: FIELD: problem" line per problem otherwise. Exits 0 when every
    file is valid, 3 when any is not.
    """
    targets = _expand(files)
    if not targets:
        click.echo(f"no scenario files (*.yaml, *.yml) in {', '.join(map(str, files))}")
        click.get_current_context().exit(int(ExitCode.SCENARIO_INVALID))
    bad = 0
    for path in targets:
        ok, lines = check_file(path)
        bad += not ok
        for line in lines:
            click.echo(line)
    if len(targets) > 1:
        click.echo(f"{len(targets)} files: {len(targets) - bad} ok, {bad} invalid")
    click.get_current_context().exit(int(ExitCode.SCENARIO_INVALID if bad else ExitCode.OK))

"""Load a scenario file: YAML, then shape (JSON Schema), then meaning, then the model.

Three passes, each adding ``Problem``s with file line and field:

1. ``source.parse``: YAML syntax, duplicate keys.
2. ``schema.check_shape``: keys, types, enums, durations.
3. the meaning, one module per section (``sections/``: settings, server and
   login, ICE, agents; ``steps.StepPlay`` for the steps) sharing one
   ``checker.Checker``: what a schema cannot say well: agents named in steps
   exist, the invite ``to`` is not the caller, login-mode rules, faults only
   with the embedded server, settings against ``ClientSettings``, agents
   connected before they act. Parts that failed pass 2 are skipped, so one
   slip gives one message.

All problems are reported together in one ``InvalidScenario`` (a
``ScenarioError``); the model is built only from a clean file.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from pathlib import Path

from callprobe.errors import ScenarioError
from callprobe.scenario.checker import Checker
from callprobe.scenario.model import (
    Scenario,
    Step,
)
from callprobe.scenario.schema import check_shape
from callprobe.scenario.sections.agents import check_agents
from callprobe.scenario.sections.ice import check_ice
from callprobe.scenario.sections.server import check_server
from callprobe.scenario.sections.settings import check_settings
from callprobe.scenario.source import MAX_FILE_BYTES, FieldPath, Problem, Source, field_name, parse
from callprobe.scenario.steps import StepPlay


class InvalidScenario(ScenarioError):
    """A scenario file with one or more problems; ``problems`` lists them all.

    The message is one ``FILE:LINE: FIELD: what`` line per problem; ``file``,
    ``line`` and ``field`` are those of the first.
    """

    def __init__(self, file: str, problems: list[Problem]) -> None:
        first, rest = problems[0], problems[1:]
        message = first.message + "".join("\n" + format_problem(file, p) for p in rest)
        hint = "see scenarios/README.md for the scenario format"
        super().__init__(message, file=file, line=first.line, field=first.field, hint=hint,
                         column=first.column)
        self.problems = tuple(problems)


def format_problem(file: str, problem: Problem) -> str:
    """``FILE:LINE: FIELD: message`` (``FILE:LINE:COLUMN:`` for YAML syntax), leaving out the parts that are unknown."""
    where = file
    if problem.line is not None:
        where = f"{where}:{problem.line}"
        if problem.column is not None:
            where = f"{where}:{problem.column}"
    if problem.field:
        where = f"{where}: {problem.field}"
    return f"{where}: {problem.message}"


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file.

    Raises:
        ScenarioError: the file cannot be read, or it is not a valid
            scenario (then an ``InvalidScenario`` listing every problem).
    """
    name = str(path)
    if Path(path).is_dir():
        raise ScenarioError("is a folder; give a scenario file (callprobe validate also takes a folder)",
                            file=name)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)  # never more: /dev/zero or a huge log stops here
    except OSError as exc:
        raise ScenarioError(f"cannot read the file: {exc.strerror or exc}", file=name) from None
    if len(data) > MAX_FILE_BYTES:
        raise ScenarioError(f"the file is over the limit of {MAX_FILE_BYTES} bytes (1 MiB); "
                            "a scenario is far smaller", file=name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        utf16 = " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise ScenarioError(f"not UTF-8 text{utf16}: byte 0x{data[exc.start]:02X} at offset {exc.start}; "
                            "save the file as UTF-8", file=name, line=line) from None
    return load_scenario_text(text, file=name)


def load_scenario_text(text: str, file: str = "<string>") -> Scenario:
    """Check scenario YAML ``text``; ``file`` names it in messages and in ``Scenario.file``."""
    with _collector_paused():
        return _load(text, file)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a file is checked: the node tree, the data and the
    problems are many long-lived objects without cycles, and each collection would walk them all
    (a quarter of the time at the size limit). What they leave is collected afterwards as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load(text: str, file: str) -> Scenario:
    source = parse(text, file)
    problems = list(source.problems)
    if () in source.nodes:  # the document parsed (its data may still be null)
        problems += check_shape(source)
        scenario, problems = _check(source, problems)
    else:
        scenario = None
    if problems or scenario is None:
        raise InvalidScenario(file, _ordered(problems))
    return scenario


def _ordered(problems: list[Problem]) -> list[Problem]:
    """Each problem once, by line (linear: a file at the size limit has many steps)."""
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: p.line if p.line is not None else 1 << 30)


def _check(source: Source, problems: list[Problem]) -> tuple[Scenario | None, list[Problem]]:
    """Pass 3, section by section; the model only when nothing is wrong."""
    c = Checker(source, problems)
    if () in c.broken or not c.data:
        return None, c.problems
    settings = check_settings(c)
    server = check_server(c)
    ice = check_ice(c)
    check_agents(c, server)
    steps = _steps(c, server.family if server is not None else "kkim")
    if c.problems or server is None or ice is None or settings is None or steps is None:
        return None, c.problems
    return Scenario(
        name=c.data["name"], description=str(c.data.get("description") or ""), file=source.file,
        server=server, ice=ice, agents=dict(c.agents), steps=steps, settings=settings,
        embedded_ice=c.top_ice.get("embedded_servers", ()) if c.top_ice else (),
    ), c.problems


def _steps(c: Checker, family: str) -> tuple[Step, ...] | None:
    given = c.data.get("steps")
    if not isinstance(given, list):
        return None
    play = StepPlay(c, family)
    out: list[Step] = []
    for index, item in enumerate(given):
        path: FieldPath = ("steps", index)
        if not c.ok(path) or not isinstance(item, dict) or len(item) != 1:
            play.lost_track = True  # what this step did is unknown: no order checks after it
            continue
        verb, value = next(iter(item.items()))
        step = play.step(path, verb, value)
        if step is not None:
            out.append(step)
    return play.finish(out)











__all__ = ["InvalidScenario", "field_name", "format_problem", "load_scenario", "load_scenario_text"]

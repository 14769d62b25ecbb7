"""One exception tree for callprobe.

Every class carries a stable ``code`` (for reports and findings), the process
``exit_code`` the CLI maps it to, and a ``hint`` in plain words. Errors are
translated to exit codes at one boundary only: ``callprobe.cli``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of every callprobe command (documented in README)."""

    OK = 0
    EXPECTATION_FAILED = 1
    USAGE = 2
    SCENARIO_INVALID = 3
    SERVER_UNREACHABLE = 4
    DIAGNOSIS_FOUND_ERRORS = 5
    SERVER_START_FAILED = 6
    INTERRUPTED = 130
    TERMINATED = 143
    INTERNAL = 70


#: What each exit code means: the one table README.md ("Exit codes") and every
#: command's ``--help`` show (a test keeps them in agreement).
EXIT_CODE_MEANING: dict[ExitCode, str] = {
    ExitCode.OK: "success: every expectation held (run), every link held with no error finding "
                 "(diagnose), every server works (ice-check)",
    ExitCode.EXPECTATION_FAILED: "an expectation or an action failed (run), fewer runs passed than --require "
                                 "(run --repeat), a threshold failed (load); a server answered but failed "
                                 "(ice-check); findings alone never change a run's exit code",
    ExitCode.USAGE: "bad command-line usage: the option is named (an http:// --server, a missing folder, "
                    "--json - with --events -...)",
    ExitCode.SCENARIO_INVALID: "the scenario file is invalid (the message names file, line and field)",
    ExitCode.SERVER_UNREACHABLE: "the server could not be reached: nothing listening, no WebSocket answer "
                                 "within connect_timeout_s, or no gateway at that address (an HTTP answer "
                                 "where a WebSocket upgrade was expected)",
    ExitCode.DIAGNOSIS_FOUND_ERRORS: "diagnose found a broken link (an error finding)",
    ExitCode.SERVER_START_FAILED: "a server callprobe runs itself could not start: a port in use, a locked "
                                  "--db, coturn that did not come up",
    ExitCode.INTERNAL: "internal error (a bug): CALLPROBE_TRACEBACK=1 shows where",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); run and diagnose still write every report with what was seen",
    ExitCode.TERMINATED: "terminated (SIGTERM), handled like Ctrl-C: the reports are written",
}

#: The exit codes each command can end with.
COMMAND_EXIT_CODES: dict[str, tuple[ExitCode, ...]] = {
    "run": (ExitCode.OK, ExitCode.EXPECTATION_FAILED, ExitCode.USAGE, ExitCode.SCENARIO_INVALID,
            ExitCode.SERVER_UNREACHABLE, ExitCode.SERVER_START_FAILED, ExitCode.INTERNAL,
            ExitCode.INTERRUPTED, ExitCode.TERMINATED),
    "diagnose": (ExitCode.OK, ExitCode.USAGE, ExitCode.SCENARIO_INVALID, ExitCode.SERVER_UNREACHABLE,
                 ExitCode.DIAGNOSIS_FOUND_ERRORS, ExitCode.SERVER_START_FAILED, ExitCode.INTERNAL,
                 ExitCode.INTERRUPTED, ExitCode.TERMINATED),
    "load": (ExitCode.OK, ExitCode.EXPECTATION_FAILED, ExitCode.USAGE, ExitCode.SCENARIO_INVALID,
             ExitCode.SERVER_UNREACHABLE, ExitCode.SERVER_START_FAILED, ExitCode.INTERNAL,
             ExitCode.INTERRUPTED, ExitCode.TERMINATED),
    "validate": (ExitCode.OK, ExitCode.USAGE, ExitCode.SCENARIO_INVALID, ExitCode.INTERNAL),
    "ice-check": (ExitCode.OK, ExitCode.EXPECTATION_FAILED, ExitCode.USAGE, ExitCode.SERVER_UNREACHABLE,
                  ExitCode.INTERNAL),
    "serve": (ExitCode.OK, ExitCode.USAGE, ExitCode.SERVER_START_FAILED, ExitCode.INTERNAL),
}


def exit_codes_epilog(command: str) -> str:
    """The "Exit codes" paragraph of a command's ``--help`` (``\b`` keeps click from rewrapping it)."""
    lines = ["\b", "Exit codes (README.md, \"Exit codes\"):"]
    lines += [f"  {int(code):>3}  {EXIT_CODE_MEANING[code]}" for code in COMMAND_EXIT_CODES[command]]
    return "\n".join(lines)


class CallprobeError(Exception):
    """Root of every error callprobe raises on purpose."""

    code = "CALLPROBE_ERROR"
    exit_code = ExitCode.INTERNAL
    hint = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(CallprobeError):
    """A setting or command-line value is unusable."""

    code = "CONFIG_INVALID"
    exit_code = ExitCode.USAGE


class ScenarioError(CallprobeError):
    """A scenario file is invalid; the message names file, line and field."""

    code = "SCENARIO_INVALID"
    exit_code = ExitCode.SCENARIO_INVALID

    def __init__(self, message: str, *, file: str = "", line: int | None = None,
                 field: str = "", hint: str | None = None, column: int | None = None) -> None:
        where = file
        if line is not None:
            where = f"{where}:{line}" if where else f"line {line}"
            if column is not None:
                where = f"{where}:{column}"
        if field:
            where = f"{where}: {field}" if where else field
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.file, self.line, self.field, self.column = file, line, field, column


class ServerUnreachable(CallprobeError):
    """The gateway or its auth API could not be reached at all."""

    code = "SERVER_UNREACHABLE"
    exit_code = ExitCode.SERVER_UNREACHABLE
    hint = "check the --server/--api URLs and that the gateway is running"


class ServerStartError(CallprobeError):
    """A server callprobe runs itself could not start: a port in use, a locked ``--db``."""

    code = "SERVER_START_FAILED"
    exit_code = ExitCode.SERVER_START_FAILED


class DeadlineExceeded(CallprobeError):
    """A wait ran past its named deadline setting."""

    code = "DEADLINE_EXCEEDED"
    exit_code = ExitCode.EXPECTATION_FAILED

    def __init__(self, what: str, setting: str, seconds: float) -> None:
        super().__init__(f"{what}: no result within {seconds:g} s (setting {setting})")
        self.what, self.setting, self.seconds = what, setting, seconds

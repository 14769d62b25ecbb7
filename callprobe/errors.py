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

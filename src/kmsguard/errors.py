"""One error hierarchy for the whole tool; the CLI maps each to a message and an exit code."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2  # usage or input error
    FINDINGS = 3  # findings at or above --fail-on
    INCOMPLETE = 4  # something could not be read, nothing worse


class KmsguardError(Exception):
    """Base of every error kmsguard raises on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputError(KmsguardError):
    """Bad input from the user: a file, an option value, a document."""

    exit_code = ExitCode.USAGE


class PolicyParseError(InputError):
    """A key policy that is not well-formed; `path` is the JSON path of the problem."""

    def __init__(self, message: str, *, path: str = "$", hint: str | None = None) -> None:
        super().__init__(f"{message} at `{path}`", hint=hint)
        self.path = path
        self.reason = message


class SourceError(KmsguardError):
    """A source (AWS, a log bucket) could not be read."""

    exit_code = ExitCode.INCOMPLETE

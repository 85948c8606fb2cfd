"""What can go wrong on the command line, and the exit code each failure maps to."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # the operation failed, or the API answered with an error
EXIT_USAGE = 2  # wrong arguments or configuration (argparse uses 2 as well)
EXIT_UNREACHABLE = 3  # the bridge (or its storage) could not be reached


class CommandFailed(Exception):
    """A failure to report on stderr; `exit_code` is what the process returns."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(CommandFailed):
    exit_code = EXIT_USAGE


class Unreachable(CommandFailed):
    exit_code = EXIT_UNREACHABLE

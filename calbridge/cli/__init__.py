"""`calbridge`: the operator's command line.

Each command is one module with a `register(subcommands)` function that adds its
parser and sets `run` (args → exit code); adding a command means adding a module to
`COMMANDS`. Failures are `CommandFailed` (see `failures`), reported on stderr.
"""

from __future__ import annotations

import argparse
import sys

from calbridge.cli import backup, conflicts, holds, mappings, status, subscriptions, sync
from calbridge.cli.failures import EXIT_FAILED, CommandFailed

COMMANDS = (status, mappings, sync, conflicts, holds, subscriptions, backup)

EPILOG = """exit codes: 0 ok, 1 the operation failed or the API answered an error,
2 usage or configuration error, 3 the bridge (or its storage) cannot be reached.

The bridge's URL and function key come from --url/--key or CALBRIDGE_URL
(default http://127.0.0.1:7071) and CALBRIDGE_FUNCTION_KEY. backup and restore
talk to storage directly, with the app's own settings (AzureWebJobsStorage,
CALBRIDGE_TABLE_PREFIX) from the environment or --settings local.settings.json."""


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="calbridge", description="Operate a calbridge deployment.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except CommandFailed as exc:
        print(f"calbridge {args.command}: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"calbridge {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `calbridge backup - | head`
        return EXIT_FAILED

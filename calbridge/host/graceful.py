"""Run a server that saves its state when stopped (`python -m calbridge.host.graceful
COMMAND…`), handing it one SIGTERM however many stop signals arrive.

A child started with a parent-death signal gets that signal again each time it is handed
to another thread of a dying multi-threaded parent: a `make serve` killed with SIGKILL
sent Azurite two SIGTERMs 11 ms apart, and the second ended it in the middle of the
shutdown the first began, before it wrote its tables to disk (it writes them every five
seconds and on shutdown), so the last seconds of acknowledged writes were lost. This
process is single-threaded: it starts COMMAND in a process group of its own (a stop
signal to this group reaches COMMAND only through here) with a parent-death SIGTERM
(sent once: this process has one thread), forwards the first SIGTERM, SIGINT or SIGHUP
it gets as one SIGTERM, ignores the rest, and exits as COMMAND does.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from types import FrameType

from calbridge.host.processes import die_with_parent


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m calbridge.host.graceful COMMAND [ARG…]", file=sys.stderr)
        return 2
    child = subprocess.Popen(argv, process_group=0,  # noqa: S603 - the caller's command
                             preexec_fn=die_with_parent())
    forwarded = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal forwarded
        if not forwarded:
            forwarded = True
            child.send_signal(signal.SIGTERM)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

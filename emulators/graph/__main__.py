"""Run the emulator: `python -m emulators.graph --port 8443 --cert-dir .local/graph-certs`.

Prints one JSON line (base_url, ca_path, tenant_id, client_id) once it is serving, and stops
cleanly on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .server import GraphEmulator


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, serve until a signal arrives."""
    parser = argparse.ArgumentParser(prog="python -m emulators.graph", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback only)")
    parser.add_argument("--port", type=int, default=8443, help="0 picks a free port")
    parser.add_argument("--cert-dir", default=".local/graph-certs")
    parser.add_argument("--seed", default=None, help="JSON seed file (see seed.py)")
    parser.add_argument("--state-file", default=None,
                        help="keep events in this JSON file, written as they change")
    parser.add_argument("--print-secret", action="store_true",
                        help="include the fake client secret in the ready line")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    try:
        emulator = GraphEmulator(host=args.host, port=args.port, cert_dir=args.cert_dir,
                                 seed=args.seed, state_file=args.state_file)
    except ValueError as exc:
        parser.error(str(exc))
    emulator.start()
    print(emulator.describe_json(include_secret=args.print_secret), flush=True)
    emulator.serve_until_signalled()
    return 0


if __name__ == "__main__":
    sys.exit(main())

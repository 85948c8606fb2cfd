"""Run the emulator: `python -m emulators.google_calendar --port 8444 --cert-dir DIR`."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .server import GoogleCalendarEmulator


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; print one JSON line describing the emulator."""
    parser = argparse.ArgumentParser(prog="python -m emulators.google_calendar")
    parser.add_argument("--port", type=int, default=8444)
    parser.add_argument("--cert-dir", default=".local/google-certs")
    parser.add_argument("--seed", default=None, help="a JSON file overlaying the default seed")
    parser.add_argument("--state-file", default=None, help="keep events in this file")
    parser.add_argument("--key-file", default=None,
                        help="write the service account's key file here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    emulator = GoogleCalendarEmulator(port=args.port, cert_dir=args.cert_dir, seed=args.seed,
                                      state_file=args.state_file).start()
    info = emulator.describe()
    if args.key_file:
        info["key_file"] = str(emulator.write_service_account_key(args.key_file))
    print(json.dumps(info), flush=True)
    emulator.serve_until_signalled()
    return 0


if __name__ == "__main__":
    sys.exit(main())

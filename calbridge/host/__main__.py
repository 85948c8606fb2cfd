"""`python -m calbridge.host`: serve function_app.py locally, without Core Tools."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from calbridge.config import Settings
from calbridge.errors import ConfigurationError
from calbridge.host.app import load_local_settings
from calbridge.host.runtime import ROOT, LocalHost
from calbridge.host.server import ServerLimits
from calbridge.telemetry import configure_telemetry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m calbridge.host", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--app", default="function_app:app", help="module:attribute of the app")
    parser.add_argument("--settings", type=Path, default=ROOT / "local.settings.json",
                        help="local.settings.json whose Values fill unset environment variables")
    parser.add_argument("--no-timers", action="store_true", help="do not run timer triggers")
    parser.add_argument("--read-timeout", type=float, default=ServerLimits.read_timeout,
                        metavar="SECONDS", help="time a request may take to arrive in full "
                        "(default %(default)g); slower ones get 408")
    parser.add_argument("--max-connections", type=int, default=ServerLimits.max_connections,
                        metavar="N", help="connections served at once (default %(default)d); "
                        "more wait for a free one")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    load_local_settings(args.settings)
    configure_telemetry()
    try:
        Settings.from_env()
    except ConfigurationError as exc:
        print(f"calbridge: {exc.message}", file=sys.stderr)
        return 2
    if args.read_timeout <= 0 or args.max_connections < 1:
        parser.error("--read-timeout and --max-connections must be positive")
    host = LocalHost(app_spec=args.app, host=args.host, port=args.port,
                     run_timers=not args.no_timers, read_timeout=args.read_timeout,
                     max_connections=args.max_connections).start()
    print(f"calbridge host listening on {host.url}", flush=True)
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    done.wait()
    host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

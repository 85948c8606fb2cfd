"""``python -m examples.booking_system``: serve until SIGINT/SIGTERM.

Prints one JSON line ``{"base_url": ...}`` once it accepts requests.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from types import FrameType

from .server import BookingSystemServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m examples.booking_system",
        description="Example room-booking system (local use only: binds loopback).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=8090, help="port (0 picks a free one)")
    parser.add_argument("--db", default=":memory:", help="SQLite file, or :memory:")
    parser.add_argument("--api-key", required=True, help="value clients send as X-API-Key")
    parser.add_argument("--webhook-url", help="where change notifications are POSTed")
    parser.add_argument("--webhook-secret", help="HMAC secret signing the notifications")
    parser.add_argument("--no-seed", action="store_true", help="start without the 3 resources")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start the server, print its address, wait for a stop signal."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    if args.webhook_url and not args.webhook_secret:
        logging.warning("webhooks will be sent unsigned; pass --webhook-secret")
    try:
        server = BookingSystemServer(
            host=args.host, port=args.port, db_path=args.db, api_key=args.api_key,
            webhook_url=args.webhook_url, webhook_secret=args.webhook_secret,
            seed=not args.no_seed,
        )
        server.start()
    except (ValueError, OSError) as exc:
        print(f"booking system: {exc}", file=sys.stderr)
        return 2
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(json.dumps({"base_url": server.base_url}), flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

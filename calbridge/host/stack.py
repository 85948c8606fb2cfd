"""`make serve`: the whole local stack in the foreground until Ctrl-C.

Azurite (state kept in `.local/azurite`), the example booking system, the Microsoft
Graph emulator, the Google Calendar emulator and the local Functions host serving
`function_app.py`, all on 127.0.0.1. Stopping stops everything that was started; a start
after a crash stops what the crashed one left running (recorded in
`.local/stack.pids.json`), and refuses to start next to anything else holding one of its
ports.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from calbridge.host.azurite import Azurite
from calbridge.host.graph_process import GraphEmulatorProcess
from calbridge.host.processes import PidFile, ensure_port_free, free_port
from calbridge.host.radicale import Radicale
from calbridge.host.runtime import ROOT, LocalHost
from calbridge.telemetry import configure_telemetry

LOCAL = ROOT / ".local"
DEMO_BOOKING_KEY = "local-booking-key"
DEMO_WEBHOOK_SECRET = "local-webhook-secret"  # noqa: S105 - a local demo value
PID_FILE = "stack.pids.json"
GOOGLE_KEY_FILE = "google-service-account.json"
GOOGLE_SUBJECT = "alex@example.org"
# A CalDAV server of its own, with one user and the calendars a newcomer can map (and
# subscribe to from a desktop client: http://127.0.0.1:5232/calbridge/, the password below).
CALDAV_USER = "calbridge"
CALDAV_PASSWORD = "local-caldav-password"  # noqa: S105 - a local demo value
CALDAV_CALENDARS = {"community-hall": "Community hall", "music-room": "Music room"}
log = logging.getLogger(__name__)


@dataclass
class Ports:
    host: int = 7071
    booking: int = 8090
    graph: int = 8443
    azurite: tuple[int, int, int] = (10000, 10001, 10002)
    google: int = 8444
    caldav: int = 5232

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), (free_port(), free_port(), free_port()),
                   free_port(), free_port())

    def named(self) -> list[tuple[str, int]]:
        blob, queue, table = self.azurite
        return [("Functions host", self.host), ("booking system", self.booking),
                ("Graph emulator", self.graph), ("Google Calendar emulator", self.google),
                ("Radicale (CalDAV)", self.caldav),
                ("Azurite blob service", blob),
                ("Azurite queue service", queue), ("Azurite table service", table)]


@dataclass
class LocalStack:
    """Everything calbridge needs locally. `persistent` keeps storage and bookings
    on disk under `.local/` so a restart finds them again."""

    ports: Ports = field(default_factory=Ports)
    persistent: bool = True
    function_key: str | None = None
    workdir: Path = LOCAL
    azurite: Azurite | None = None
    booking: object | None = None
    graph: object | None = None
    google: object | None = None
    caldav: Radicale | None = None
    host: LocalHost | None = None
    env: dict[str, str] = field(default_factory=dict)
    # The Graph emulator's seed (its default plus the guide's example mailboxes when None),
    # and whether it runs in a process of its own, its calendars in memory only (for a
    # benchmark measuring the host's memory and CPU), rather than in this one.
    graph_seed: dict | None = None
    graph_apart: bool = False

    def start(self) -> LocalStack:
        from emulators.google_calendar import GoogleCalendarEmulator
        from emulators.graph import GraphEmulator
        from emulators.graph.seed import load_seed, with_guide_examples
        from examples.booking_system import BookingSystemServer
        from examples.booking_system.db import GUIDE_RESOURCES

        self.workdir.mkdir(parents=True, exist_ok=True)
        pids = PidFile(self.workdir / PID_FILE)
        for name, record in pids.take_over("make serve"):
            log.warning("stopped %s %s, left running by a make serve that did not stop it",
                        name, record)
        for purpose, port in self.ports.named():
            ensure_port_free(port, purpose)
        try:
            self.azurite = Azurite(
                data_dir=self.workdir / "azurite" if self.persistent else None,
                workspace=self.workdir, ports=self.ports.azurite,
                log_path=self.workdir / "azurite.log").start()
            assert self.azurite.pid is not None
            children = {"azurite": self.azurite.pid}
            pids.record(children)
            self.booking = BookingSystemServer(
                port=self.ports.booking, api_key=DEMO_BOOKING_KEY,
                db_path=str(self.workdir / "booking.db") if self.persistent else ":memory:",
                webhook_secret=DEMO_WEBHOOK_SECRET, resources=GUIDE_RESOURCES)
            self.booking.start()
            # The usage guide's example names exist, so its curls work as written.
            seed = self.graph_seed or with_guide_examples(load_seed(None))
            if self.graph_apart:
                self.graph = GraphEmulatorProcess(
                    port=self.ports.graph, cert_dir=self.workdir / "graph-certs",
                    log_path=self.workdir / "graph.log", seed=seed).start()
                assert self.graph.pid is not None
                children["graph emulator"] = self.graph.pid
                pids.record(children)
            else:
                self.graph = GraphEmulator(
                    port=self.ports.graph, cert_dir=self.workdir / "graph-certs", seed=seed,
                    state_file=self.workdir / "graph-events.json" if self.persistent else None)
                self.graph.start()
            self.google = GoogleCalendarEmulator(
                port=self.ports.google, cert_dir=self.workdir / "google-certs",
                state_file=self.workdir / "google-events.json" if self.persistent else None)
            self.google.start()
            self.google.write_service_account_key(self.workdir / GOOGLE_KEY_FILE)
            self.caldav = Radicale(self.workdir / "radicale", CALDAV_USER, CALDAV_PASSWORD,
                                   port=self.ports.caldav).start()
            assert self.caldav.pid is not None
            children["radicale"] = self.caldav.pid
            pids.record(children)
            for name, display in CALDAV_CALENDARS.items():
                self.caldav.make_calendar(name, display)
            self.env = self._settings()
            os.environ.update(self.env)
            configure_telemetry()
            self.host = LocalHost(port=self.ports.host).start()
            # The booking system's change notifications go to calbridge's webhook.
            self.booking.set_webhook(f"{self.url}/bridges/webhook/booking_system",
                                     DEMO_WEBHOOK_SECRET)
        except BaseException:
            self.stop()
            raise
        return self

    def _settings(self) -> dict[str, str]:
        assert self.azurite and self.booking and self.graph
        graph = self.graph
        settings = {
            "AzureWebJobsStorage": self.azurite.connection_string,
            "CALBRIDGE_BRIDGES": "booking_system,outlook,google_calendar,caldav",
            "WEBHOOK_BASE_URL": f"http://127.0.0.1:{self.ports.host}",
            "BOOKING_SYSTEM_BASE_URL": self.booking.base_url,  # type: ignore[attr-defined]
            "BOOKING_SYSTEM_API_KEY": DEMO_BOOKING_KEY,
            "BOOKING_SYSTEM_WEBHOOK_SECRET": DEMO_WEBHOOK_SECRET,
            "OUTLOOK_TENANT_ID": graph.tenant_id,  # type: ignore[attr-defined]
            "OUTLOOK_CLIENT_ID": graph.client_id,  # type: ignore[attr-defined]
            "OUTLOOK_CLIENT_SECRET": graph.client_secret,  # type: ignore[attr-defined]
            "OUTLOOK_AUTHORITY_HOST": graph.authority_host,  # type: ignore[attr-defined]
            "GRAPH_BASE_URL": graph.graph_url,  # type: ignore[attr-defined]
            "OUTLOOK_CA_BUNDLE": graph.ca_path,  # type: ignore[attr-defined]
            # The service account acts for alex@example.org, who can write the rooms.
            "GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY_FILE": self.google_calendar["key_file"],
            "GOOGLE_CALENDAR_SUBJECT": GOOGLE_SUBJECT,
            "GOOGLE_CALENDAR_TOKEN_URI": self.google_calendar["token_uri"],
            "GOOGLE_CALENDAR_API_BASE_URL": self.google_calendar["api_url"],
            # Rooms are listed only with GOOGLE_CALENDAR_LIST_ROOMS=true; alex is an admin.
            "GOOGLE_CALENDAR_DIRECTORY_API_BASE_URL": self.google_calendar["directory_url"],
            "GOOGLE_CALENDAR_CA_BUNDLE": self.google_calendar["ca_path"],
            "CALDAV_URL": self.caldav.url if self.caldav else "",
            "CALDAV_USERNAME": CALDAV_USER,
            "CALDAV_PASSWORD": CALDAV_PASSWORD,
        }
        if self.function_key:
            settings["CALBRIDGE_FUNCTION_KEY"] = self.function_key
        return settings

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports.host}"

    @property
    def google_calendar(self) -> dict[str, str]:
        """Where the Google Calendar emulator is and how to authenticate to it: the API
        base URL (Google's https://www.googleapis.com), the token URI, the service-account
        key file (which names that token URI) and the CA bundle to trust."""
        assert self.google is not None
        google = self.google
        return {
            "base_url": google.base_url,  # type: ignore[attr-defined]
            "api_url": google.api_url,  # type: ignore[attr-defined]
            "directory_url": google.directory_url,  # type: ignore[attr-defined]
            "token_uri": google.token_uri,  # type: ignore[attr-defined]
            "key_file": str(self.workdir / GOOGLE_KEY_FILE),
            "ca_path": google.ca_path,  # type: ignore[attr-defined]
            "service_account": google.service_account_email,  # type: ignore[attr-defined]
        }

    def stop(self) -> None:
        for part in (self.host, self.caldav, self.google, self.graph, self.booking,
                     self.azurite):
            if part is not None:
                try:
                    part.stop()  # type: ignore[attr-defined]
                except Exception:  # keep stopping the rest
                    log.exception("stopping %r failed", part)
        self.host = self.google = self.graph = self.booking = self.azurite = None
        self.caldav = None
        PidFile(self.workdir / PID_FILE).release()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make serve", description=__doc__)
    defaults = Ports()
    parser.add_argument("--port", type=int, default=defaults.host,
                        help="port of the Functions host (default %(default)d)")
    parser.add_argument("--booking-port", type=int, default=defaults.booking,
                        help="port of the example booking system (default %(default)d)")
    parser.add_argument("--graph-port", type=int, default=defaults.graph,
                        help="port of the Graph emulator (default %(default)d)")
    parser.add_argument("--google-port", type=int, default=defaults.google,
                        help="port of the Google Calendar emulator (default %(default)d)")
    parser.add_argument("--caldav-port", type=int, default=defaults.caldav,
                        help="port of the Radicale CalDAV server (default %(default)d)")
    parser.add_argument("--azurite-ports", type=_three_ports, default=defaults.azurite,
                        metavar="BLOB,QUEUE,TABLE", help="ports of Azurite (default "
                        + ",".join(map(str, defaults.azurite)) + ")")
    parser.add_argument("--workdir", type=Path, default=LOCAL,
                        help="where state, logs and the record of started processes go "
                             "(default .local)")
    parser.add_argument("--function-key", default=os.environ.get("CALBRIDGE_FUNCTION_KEY"),
                        help="require this key on management endpoints")
    parser.add_argument("--in-memory", action="store_true",
                        help="keep nothing on disk (fresh state every start)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    ports = Ports(host=args.port, booking=args.booking_port, graph=args.graph_port,
                  azurite=args.azurite_ports, google=args.google_port, caldav=args.caldav_port)
    stack = LocalStack(ports=ports, persistent=not args.in_memory,
                       function_key=args.function_key, workdir=args.workdir)
    try:
        stack.start()
    except OSError as exc:
        print(f"calbridge: could not start the local stack: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    state = f"state in {stack.workdir / 'azurite'}" if stack.persistent else "state in memory"
    google = stack.google_calendar
    caldav = stack.caldav.url if stack.caldav else ""
    print(f"""
calbridge is running (Ctrl-C stops everything):
  Functions host      {stack.url}
  status page         {stack.url}/dashboard   (open it in a browser)
  booking system      {stack.booking.base_url}   (open it in a browser)
  Graph emulator      {stack.graph.base_url}
  Google Calendar     {google["base_url"]}   (service account key {google["key_file"]})
  Radicale (CalDAV)   {caldav}   (user {CALDAV_USER}, password {CALDAV_PASSWORD})
  Azurite             tables on 127.0.0.1:{stack.ports.azurite[2]}, {state}

Try:
  curl {stack.url}/bridges
  curl {stack.url}/bridges/health
  curl {stack.url}/bridges/outlook/calendars
""", flush=True)  # type: ignore[union-attr]
    done = threading.Event()
    # A closed terminal (SIGHUP) stops the stack as cleanly as Ctrl-C.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: done.set())
    done.wait()
    print("stopping…", flush=True)
    stack.stop()
    return 0


def _three_ports(text: str) -> tuple[int, int, int]:
    try:
        blob, queue, table = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("three ports, as BLOB,QUEUE,TABLE") from None
    return blob, queue, table


if __name__ == "__main__":
    sys.exit(main())

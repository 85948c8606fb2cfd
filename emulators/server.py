"""What starting and stopping an emulator means, whichever API it emulates: its certificates,
its state file, its HTTPS listener on a background thread, its `/_admin` routes.

An emulator subclasses `EmulatorServer`, builds its own service, tells the service where it
is served once bound, and routes each request (`dispatch`).
"""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

from .admin import AdminApi
from .certs import ensure_certificates
from .https import LOOPBACK_HOSTS, Response, TlsServer, server_context
from .state import StateWriter

# Requests that may change the state, answered only once the change is in the state file.
CHANGING = ("POST", "PATCH", "PUT", "DELETE")


class EmulatedService(Protocol):
    """What `EmulatorServer` needs of the service behind an emulator."""

    base_url: str
    # A `state.SnapshotStore` that can also `restore(snapshot)`.
    store: Any

    def stop(self) -> None:
        """Stop background work (push delivery, latency waits)."""
        ...


ServiceT = TypeVar("ServiceT", bound=EmulatedService)


class EmulatorServer(ABC, Generic[ServiceT]):
    """An emulated API over HTTPS on 127.0.0.1 only, started and stopped by tests and tools.
    Without a `cert_dir` it makes a temporary one and removes it when stopped."""

    title: ClassVar[str]  # "Graph emulator": names its certificate authority and errors
    short_name: ClassVar[str]  # "graph": names its temporary folder and threads
    server_version: ClassVar[str]
    json_content_type: ClassVar[str] = "application/json; charset=UTF-8"
    # Builds its `/_admin` routes from the service.
    admin_type: ClassVar[Callable[[Any], AdminApi]]

    def __init__(self, host: str, port: int, cert_dir: str | Path | None,
                 state_file: str | Path | None) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"the {self.title} binds to 127.0.0.1 only")
        self.host = "127.0.0.1"
        self.port = port
        self._own_cert_dir = cert_dir is None
        self.cert_dir = (Path(cert_dir) if cert_dir
                         else Path(tempfile.mkdtemp(prefix=f"{self.short_name}-")))
        self.ca_path = str(self.cert_dir / "ca.pem")
        # Events are kept here between runs when set (`make serve`); None keeps nothing.
        self.state_file = Path(state_file) if state_file else None
        self.service: ServiceT | None = None
        self._admin: AdminApi | None = None
        self._state: StateWriter | None = None
        self._server: TlsServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """https://127.0.0.1:PORT."""
        return f"https://{self.host}:{self.port}"

    # what each emulator says -------------------------------------------------------------

    @abstractmethod
    def _new_service(self) -> ServiceT:
        """The service behind the API, built when starting (`ca_path` is known by then)."""

    def _bound(self, service: ServiceT) -> None:
        """Tell the service's parts where the emulator is served, once bound."""

    @abstractmethod
    def dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes
                 ) -> Response:
        """Route one HTTP request."""

    @staticmethod
    @abstractmethod
    def internal_error() -> Response:
        """The answer to a request whose handling raised, in the API's own shape."""

    # lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Generate or reuse certificates, bind, and serve from a background thread."""
        paths = ensure_certificates(self.cert_dir, f"calbridge {self.title} CA")
        self.ca_path = str(paths.ca_path)
        self.service = service = self._new_service()
        if self.state_file is not None:
            if self.state_file.exists():
                service.store.restore(json.loads(self.state_file.read_text()))
            self._state = StateWriter(service.store, self.state_file,
                                      f"{self.short_name}-state").start()
        self._admin = self.admin_type(service)
        self._server = TlsServer((self.host, self.port),
                                 server_context(paths.cert_path, paths.key_path),
                                 self.dispatch, self.internal_error,
                                 server_version=self.server_version,
                                 json_content_type=self.json_content_type)
        self.port = self._server.server_address[1]
        service.base_url = self.base_url
        self._bound(service)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name=f"{self.short_name}-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close connections, stop background work (and write what is still
        pending to `state_file`, when one is set)."""
        if self.service:
            self.service.stop()
        if self._state is not None:
            self._state.stop()
            self._state = None
        if self._server:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        if self._own_cert_dir:
            shutil.rmtree(self.cert_dir, ignore_errors=True)

    def serve_until_signalled(self) -> None:
        """Serve until SIGINT or SIGTERM, then stop: what `python -m emulators.<name>` does
        once it has started and said where it is."""
        done = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: done.set())
        try:
            done.wait()
        finally:
            self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_saved(self, method: str) -> None:
        """A change is answered once it is in `state_file`, so a killed emulator restarts
        with everything it confirmed (concurrent changes share one write)."""
        if self._state is not None and method in CHANGING:
            self._state.wait()

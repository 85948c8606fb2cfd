"""Azurite, the local Azure Storage emulator, from the project's `node_modules`."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from calbridge.host.processes import ChildProcess, ensure_port_free, free_port, wait_for_port
from calbridge.store.clients import development_connection_string

ROOT = Path(__file__).resolve().parents[2]


def azurite_executable() -> str:
    local = ROOT / "node_modules" / ".bin" / "azurite"
    if local.exists():
        return str(local)
    found = shutil.which("azurite")
    if found:
        return found
    raise FileNotFoundError("azurite is not installed: run `make setup` (npm install)")


class Azurite:
    """Blob, queue and table emulators on 127.0.0.1. `data_dir=None` keeps everything
    in memory; a folder keeps state across restarts. Azurite stops when the thread that
    started it ends, even if its process is killed."""

    def __init__(self, *, data_dir: Path | None = None, workspace: Path,
                 ports: tuple[int, int, int] | None = None, log_path: Path | None = None) -> None:
        self.ports = ports or (free_port(), free_port(), free_port())
        self.data_dir = data_dir
        self.workspace = workspace
        self.log_path = log_path
        self._child: ChildProcess | None = None

    @property
    def connection_string(self) -> str:
        blob, queue, table = self.ports
        return development_connection_string(blob=blob, queue=queue, table=table)

    def start(self, timeout: float = 60.0) -> Azurite:
        blob, queue, table = self.ports
        # A leftover Azurite on these ports would answer in place of this one.
        for service, port in zip(("blob", "queue", "table"), self.ports, strict=True):
            ensure_port_free(port, f"Azurite {service} service")
        location = self.data_dir or self.workspace
        location.mkdir(parents=True, exist_ok=True)
        argv = [azurite_executable(), "--blobHost", "127.0.0.1", "--blobPort", str(blob),
                "--queueHost", "127.0.0.1", "--queuePort", str(queue),
                "--tableHost", "127.0.0.1", "--tablePort", str(table),
                "--disableTelemetry", "--skipApiVersionCheck", "--silent"]
        # Azurite refuses a location together with in-memory persistence.
        argv += ["--location", str(location)] if self.data_dir else ["--inMemoryPersistence"]
        if self.data_dir:
            # It writes its tables to disk on shutdown: one SIGTERM, however the host ends.
            argv = [sys.executable, "-m", "calbridge.host.graceful", *argv]
        self._child = ChildProcess("azurite", argv, cwd=location, log_path=self.log_path,
                                   die_with_parent=True).start()
        try:
            for port in self.ports:
                wait_for_port("127.0.0.1", port, timeout, self._child.process)
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def pid(self) -> int | None:
        process = self._child.process if self._child else None
        return process.pid if process else None

    def stop(self) -> None:
        if self._child:
            self._child.stop()
            self._child = None

"""The Microsoft Graph emulator in a process of its own (`python -m emulators.graph`).

The local stack runs the emulator in the host's process; a benchmark that measures the
host's memory and CPU runs it here instead, so the emulator's calendars (10,000 meetings
are some 180 MB) and its work on every request are not counted as the host's. It tells
a client what the in-process emulator does: where it is and how to sign in.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from calbridge.host.processes import ChildProcess, ensure_port_free, wait_for_port
from calbridge.host.runtime import ROOT

HOST = "127.0.0.1"


class GraphEmulatorProcess:
    """The emulator serving `seed` (the emulator's seed shape; its default when None) on
    `port`, its certificates in `cert_dir`, its output in `log_path`."""

    def __init__(self, *, port: int, cert_dir: Path, log_path: Path,
                 seed: dict[str, Any] | None = None) -> None:
        self.port = port
        self.cert_dir = cert_dir
        self.log_path = log_path
        self.seed = seed
        self._child: ChildProcess | None = None
        self._info: dict[str, str] = {}

    @property
    def pid(self) -> int | None:
        process = self._child.process if self._child else None
        return process.pid if process else None

    def start(self, timeout: float = 60.0) -> GraphEmulatorProcess:
        ensure_port_free(self.port, "Graph emulator")
        argv = [sys.executable, "-m", "emulators.graph", "--host", HOST,
                "--port", str(self.port), "--cert-dir", str(self.cert_dir), "--print-secret"]
        if self.seed is not None:
            seed_file = self.log_path.with_name("graph-seed.json")
            seed_file.write_text(json.dumps(self.seed), encoding="utf-8")
            argv += ["--seed", str(seed_file)]
        self.log_path.write_bytes(b"")
        self._child = ChildProcess("graph emulator", argv, cwd=ROOT, log_path=self.log_path,
                                   die_with_parent=True).start()
        try:
            wait_for_port(HOST, self.port, timeout, self._child.process)
            self._info = self._ready_line(time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _ready_line(self, deadline: float) -> dict[str, str]:
        """The JSON line the emulator prints once it serves (after its port opens)."""
        while True:
            for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith("{") and '"graph_url"' in line:
                    return json.loads(line)
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Graph emulator did not say where it is "
                                   f"(see {self.log_path})")
            time.sleep(0.05)

    def stop(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.stop()

    @property
    def base_url(self) -> str:
        return self._info["base_url"]

    @property
    def graph_url(self) -> str:
        return self._info["graph_url"]

    @property
    def authority_host(self) -> str:
        """The login host; the msal authority is f"{authority_host}/{tenant_id}"."""
        return self._info["base_url"]

    @property
    def ca_path(self) -> str:
        return self._info["ca_path"]

    @property
    def tenant_id(self) -> str:
        return self._info["tenant_id"]

    @property
    def client_id(self) -> str:
        return self._info["client_id"]

    @property
    def client_secret(self) -> str:
        return self._info["client_secret"]

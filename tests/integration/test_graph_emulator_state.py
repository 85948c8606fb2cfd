"""A killed Graph emulator (as when `make serve` is killed) restarts with every change
it had answered: nothing depends on a clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msal
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
ROOM = "room-a@rooms.example.org"


class EmulatorProcess:
    """`python -m emulators.graph` with a state file, in its own process group."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.process: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        self.http = requests.Session()
        self.http.trust_env = False

    def start(self) -> EmulatorProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "emulators.graph", "--port", "0", "--print-secret",
             "--cert-dir", str(self.folder / "certs"),
             "--state-file", str(self.folder / "graph-events.json")],
            cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, "the emulator exited before it was ready"
        self.info = json.loads(line)
        self.http.verify = self.info["ca_path"]
        app = msal.ConfidentialClientApplication(
            self.info["client_id"], client_credential=self.info["client_secret"],
            authority=f"{self.info['base_url']}/{self.info['tenant_id']}",
            http_client=self.http, instance_discovery=False)
        token = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
        self.http.headers["Authorization"] = f"Bearer {token['access_token']}"
        return self

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, f"{self.info['graph_url']}{path}", timeout=15,
                                 **kwargs)

    def kill(self) -> None:
        """SIGKILL: no signal handler, no clean stop, no last write."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def emulator_process() -> Iterator[list[EmulatorProcess]]:
    started: list[EmulatorProcess] = []
    yield started
    for process in started:
        process.kill()
        process.http.close()


def event(subject: str, hour: int) -> dict[str, Any]:
    return {"subject": subject,
            "start": {"dateTime": f"2031-01-06T{hour:02d}:00:00", "timeZone": "UTC"},
            "end": {"dateTime": f"2031-01-06T{hour:02d}:30:00", "timeZone": "UTC"}}


def subjects(emulator: EmulatorProcess) -> dict[str, str]:
    answer = emulator.call("GET", f"/users/{ROOM}/calendarView", params={
        "startDateTime": "2031-01-06T00:00:00Z", "endDateTime": "2031-01-07T00:00:00Z",
        "$top": "100"})
    assert answer.status_code == 200, answer.text
    return {item["id"]: item["subject"] for item in answer.json()["value"]}


def test_a_killed_emulator_restarts_with_every_answered_change(
        tmp_path: Path, emulator_process: list[EmulatorProcess]) -> None:
    first = EmulatorProcess(tmp_path).start()
    emulator_process.append(first)
    made = []
    for n in range(20):
        answer = first.call("POST", f"/users/{ROOM}/events", json=event(f"Meeting {n}", n))
        assert answer.status_code == 201, answer.text
        made.append(answer.json()["id"])
    renamed = first.call("PATCH", f"/users/{ROOM}/events/{made[0]}",
                         json={"subject": "Meeting 0 (moved)"})
    assert renamed.status_code == 200, renamed.text
    assert first.call("DELETE", f"/users/{ROOM}/events/{made[1]}").status_code == 204
    before = subjects(first)
    first.kill()

    second = EmulatorProcess(tmp_path).start()
    emulator_process.append(second)
    after = subjects(second)
    assert after == before and len(after) == 19
    assert after[made[0]] == "Meeting 0 (moved)" and made[1] not in after
    # The kept state goes on changing and is kept again.
    assert second.call("DELETE", f"/users/{ROOM}/events/{made[2]}").status_code == 204
    second.kill()
    third = EmulatorProcess(tmp_path).start()
    emulator_process.append(third)
    assert made[2] not in subjects(third) and len(subjects(third)) == 18
    assert not (tmp_path / "graph-events.json.tmp").exists()

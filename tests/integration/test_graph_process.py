"""The Graph emulator in a process of its own (what the scale benchmark measures the host
beside): a client signs in with what it tells, sees the seeded rooms, and stopping it
ends the process."""

from __future__ import annotations

import os
from pathlib import Path

import requests

from calbridge.host.graph_process import GraphEmulatorProcess
from calbridge.host.processes import free_port
from emulators.graph.seed import load_seed, with_guide_examples


def test_a_graph_emulator_apart_serves_its_seed_and_stops(tmp_path: Path) -> None:
    seed = with_guide_examples(load_seed(None))
    seed["mailboxes"].append({"kind": "room", "id": "apart-room",
                              "userPrincipalName": "apart-room@rooms.example.org",
                              "displayName": "Room apart"})
    graph = GraphEmulatorProcess(port=free_port(), cert_dir=tmp_path / "certs",
                                 log_path=tmp_path / "graph.log", seed=seed).start()
    pid = graph.pid
    assert pid is not None and pid != os.getpid()
    try:
        session = requests.Session()
        session.trust_env = False
        session.verify = graph.ca_path
        token = session.post(
            f"{graph.authority_host}/{graph.tenant_id}/oauth2/v2.0/token",
            data={"grant_type": "client_credentials", "client_id": graph.client_id,
                  "client_secret": graph.client_secret,
                  "scope": "https://graph.microsoft.com/.default"}, timeout=30)
        assert token.status_code == 200, token.text
        rooms = session.get(f"{graph.graph_url}/places/microsoft.graph.room",
                            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
                            params={"$top": "100"}, timeout=30)
        assert rooms.status_code == 200, rooms.text
        assert "apart-room@rooms.example.org" in {
            room["emailAddress"] for room in rooms.json()["value"]}
    finally:
        graph.stop()
    assert graph.pid is None
    assert not Path(f"/proc/{pid}").exists()

"""Radicale, a CalDAV server from PyPI, for the local stack and the tests: started on a
loopback port with a storage folder of its own, one user signing in with Basic
authentication, calendars made with MKCALENDAR (RFC 4791 5.3.1)."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import requests

from calbridge.host.processes import ChildProcess, ensure_port_free, free_port, wait_for_port

HOST = "127.0.0.1"
DAV, CALDAV = "DAV:", "urn:ietf:params:xml:ns:caldav"


def mkcalendar_body(path: str, display_name: str | None = None) -> bytes:
    """An MKCALENDAR request body: a VEVENT calendar, named `display_name` (else the last
    segment of its path)."""
    root = ET.Element(f"{{{CALDAV}}}mkcalendar")
    prop = ET.SubElement(ET.SubElement(root, f"{{{DAV}}}set"), f"{{{DAV}}}prop")
    name = display_name or path.rstrip("/").rsplit("/")[-1]
    ET.SubElement(prop, f"{{{DAV}}}displayname").text = name
    components = ET.SubElement(prop, f"{{{CALDAV}}}supported-calendar-component-set")
    ET.SubElement(components, f"{{{CALDAV}}}comp", {"name": "VEVENT"})
    return ET.tostring(root)


class Radicale:
    """A Radicale server holding `folder`'s collections; `username` signs in with
    `password` (plain htpasswd: a local server only) and owns the calendars under
    `/<username>/`."""

    def __init__(self, folder: Path, username: str, password: str, *, port: int | None = None,
                 log_path: Path | None = None) -> None:
        self.folder = folder
        self.username = username
        self.password = password
        self.port = port or free_port()
        self.log_path = log_path or folder / "radicale.log"
        self._child: ChildProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    @property
    def home(self) -> str:
        """The user's calendar home (a path on the server)."""
        return f"/{self.username}/"

    @property
    def pid(self) -> int | None:
        process = self._child.process if self._child else None
        return process.pid if process else None

    def start(self, timeout: float = 60.0) -> Radicale:
        ensure_port_free(self.port, "Radicale")
        self.folder.mkdir(parents=True, exist_ok=True)
        users = self.folder / "users"
        users.write_text(f"{self.username}:{self.password}\n", encoding="utf-8")
        argv = [sys.executable, "-m", "radicale", "--config", "",
                "--server-hosts", f"{HOST}:{self.port}",
                "--storage-filesystem-folder", str(self.folder / "collections"),
                "--auth-type", "htpasswd", "--auth-htpasswd-filename", str(users),
                "--auth-htpasswd-encryption", "plain", "--rights-type", "owner_only",
                "--logging-level", "warning"]
        self._child = ChildProcess("radicale", argv, cwd=self.folder, log_path=self.log_path,
                                   die_with_parent=True).start()
        try:
            wait_for_port(HOST, self.port, timeout, self._child.process)
        except BaseException:
            self.stop()
            raise
        return self

    def session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        session.auth = (self.username, self.password)
        return session

    def make_calendar(self, name: str, display_name: str | None = None) -> str:
        """MKCALENDAR a VEVENT calendar `name` in the user's home, unless it exists
        already (a restart with kept storage); its path."""
        path = f"{self.home}{name}/"
        with self.session() as session:
            response = session.request(
                "MKCALENDAR", self.url.rstrip("/") + path,
                data=mkcalendar_body(path, display_name),
                headers={"Content-Type": "application/xml; charset=utf-8"}, timeout=15)
        # 405/409: the collection is there already.
        if response.status_code not in (201, 405, 409):
            raise RuntimeError(f"MKCALENDAR {path} answered {response.status_code}")
        return path

    def stop(self) -> None:
        if self._child:
            self._child.stop()
            self._child = None

"""Child processes of the local stack: start, wait for a port, stop the whole group;
who holds a port, and the record that lets a restart find children a killed stack
left running."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

PROC = Path("/proc")
_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float = 30.0,
                  process: subprocess.Popen | None = None) -> None:
    """Return once something accepts connections on host:port (or raise). With a
    `process`, that something must be it (its group, or a child it started in a group of
    its own): another listener on the port is an error, not a sign the process is
    ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before "
                               f"listening on {host}:{port}")
        try:
            socket.create_connection((host, port), timeout=0.5).close()
        except OSError:
            time.sleep(0.1)
            continue
        holder = listener(port) if process is not None else None
        if (holder is not None and process is not None and holder.group != process.pid
                and _parent(holder.pid) != process.pid):
            raise OSError(errno.EADDRINUSE, f"port {port} is held by {holder}, "
                                            "not by the process just started")
        return
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.0f}s")


def _parent(pid: int) -> int | None:
    """The parent of a process, when /proc tells."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def ensure_port_free(port: int, purpose: str, host: str = "127.0.0.1") -> None:
    """Raise OSError(EADDRINUSE) naming the port, what it is for and, when /proc tells,
    the process holding it."""
    with socket.socket() as probe:
        # As the servers themselves bind: a port in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
            return
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
    holder = listener(port)
    who = str(holder) if holder else "a process this user cannot see"
    raise OSError(errno.EADDRINUSE, f"port {port} ({purpose}) is already held by {who}")


@dataclass(frozen=True)
class ProcessRecord:
    """A process as /proc knows it. The start time tells it from a later process that
    got the same pid; the command line says what it is."""

    pid: int
    start_time: int
    argv: tuple[str, ...]
    group: int

    @classmethod
    def of(cls, pid: int) -> ProcessRecord | None:
        """The running process `pid` (None when it is gone, a zombie, or /proc is absent)."""
        try:
            stat = (PROC / str(pid) / "stat").read_text()
            argv = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        # Fields after the command name, which may itself hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] in {"Z", "X"}:
            return None
        return cls(pid=pid, start_time=int(fields[19]), group=int(fields[2]),
                   argv=tuple(a.decode(errors="replace") for a in argv if a))

    @classmethod
    def from_json(cls, data: dict) -> ProcessRecord:
        return cls(pid=int(data["pid"]), start_time=int(data["start_time"]),
                   argv=tuple(data["argv"]), group=int(data["group"]))

    def running(self) -> bool:
        """Whether this very process still runs (not merely its pid)."""
        now = ProcessRecord.of(self.pid)
        return now is not None and (now.start_time, now.argv) == (self.start_time, self.argv)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (its group, when it leads one), SIGKILL after `timeout`."""
        for signum in (signal.SIGTERM, signal.SIGKILL):
            if not self.running():
                return
            with contextlib.suppress(ProcessLookupError):
                if self.group == self.pid:
                    os.killpg(self.pid, signum)
                else:
                    os.kill(self.pid, signum)
            deadline = time.monotonic() + timeout
            while self.running() and time.monotonic() < deadline:
                time.sleep(0.1)
        if self.running():
            raise OSError(errno.EBUSY, f"{self} did not stop")

    def __str__(self) -> str:
        command = " ".join(self.argv)
        return f"pid {self.pid} ({command[:160]}{'…' if len(command) > 160 else ''})"


def listener(port: int) -> ProcessRecord | None:
    """The process listening on TCP `port` (any address), when /proc tells."""
    sockets = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (PROC / "net" / table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    sockets.add(f"socket:[{inode}]")
    if not sockets:
        return None
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in sockets:
                    return ProcessRecord.of(int(entry.name))
    return None


class PidFile:
    """The children a supervisor started, with the supervisor itself, written down so
    that the next start can stop children a killed supervisor left running."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> tuple[ProcessRecord | None, dict[str, ProcessRecord]]:
        try:
            data = json.loads(self.path.read_text())
            owner = ProcessRecord.from_json(data["owner"])
            children = {name: ProcessRecord.from_json(child)
                        for name, child in data["children"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            return None, {}
        return owner, children

    def take_over(self, supervisor: str) -> list[tuple[str, ProcessRecord]]:
        """Stop what an earlier supervisor of this file left running, and return it.
        Raise OSError(EBUSY) when that supervisor still runs."""
        owner, children = self._read()
        if owner is not None and owner.pid != os.getpid() and owner.running():
            raise OSError(errno.EBUSY, f"another {supervisor} is running ({owner}) and "
                                       f"owns {self.path.parent}: stop it first")
        stopped = []
        for name, child in children.items():
            if child.running():
                child.stop()
                stopped.append((name, child))
        self.release()
        return stopped

    def record(self, children: dict[str, int]) -> None:
        """Write this process down as the supervisor of `children` (name: pid)."""
        owner = ProcessRecord.of(os.getpid())
        if owner is None:  # no /proc: nothing to recognise the processes by later
            return
        found = {name: ProcessRecord.of(pid) for name, pid in children.items()}
        data = {"owner": asdict(owner),
                "children": {name: asdict(r) for name, r in found.items() if r is not None}}
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(data, indent=1))
        temporary.replace(self.path)

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


def die_with_parent() -> Callable[[], None] | None:
    """On Linux, a hook run in the child before exec that has the kernel SIGTERM it when
    the thread that started it dies, even by SIGKILL, when nothing of ours runs to stop
    it. Start such children from a thread that lives as long as they should."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the hook ran
            os._exit(1)

    return hook


class ChildProcess:
    """A child in its own process group, so stopping it stops what it started too."""

    def __init__(self, name: str, argv: Sequence[str], *, cwd: Path | None = None,
                 env: dict[str, str] | None = None, log_path: Path | None = None,
                 die_with_parent: bool = False) -> None:
        self.name = name
        self.argv = list(argv)
        self.cwd = cwd
        self.env = env
        self.log_path = log_path
        self.die_with_parent = die_with_parent
        self.process: subprocess.Popen | None = None

    def start(self) -> ChildProcess:
        output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(  # noqa: S603 - argv built by the project
            self.argv, cwd=self.cwd, env=self.env, stdout=output, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=die_with_parent() if self.die_with_parent else None)
        if output is not subprocess.DEVNULL:
            output.close()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)

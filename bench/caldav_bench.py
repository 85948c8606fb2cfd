"""Benchmark: calbridge and vdirsyncer syncing one CalDAV calendar into another on the
same Radicale server — first sync of N events, a quiet second sync, and a sync after 50
edits — with the wall time, the CalDAV requests and the peak memory of each; then the
server's floor: the source's resources PUT as they are into empty calendars, one and four
at a time, with nothing read or kept (no client's first sync can take less).

    make bench                                    # 5,000 events
    .venv/bin/python bench/caldav_bench.py --events 500
    .venv/bin/python bench/caldav_bench.py --profile calbridge.prof  # + -quiet, -edits
    .venv/bin/python bench/caldav_bench.py --profile first.prof --workers 1  # one thread

The source calendars are written straight into Radicale's storage folder (one .ics per
resource, as Radicale keeps them): a tenth are weekly series with an EXDATE and a
RECURRENCE-ID override, the rest single events over the next six months, some titled in
other scripts. Each tool gets a source and a target calendar of its own, filled alike.
calbridge runs in this process (two caldav bridge instances, `src` and `dst`, storage on
Azurite, one mapping `a_to_b`); vdirsyncer runs as a subprocess from `.venv-vdirsyncer`
(created on first use). Requests are counted in Radicale's log, so both tools are counted
the same way; calbridge's Table Storage requests (reads, single writes, transactions) are
counted at the storage SDK's transport. Radicale runs with `bench/radicale_uid_index.py`,
which removes two scans of the whole collection per write that make filling an empty
calendar quadratic for any client (see that file).

Everything runs on 127.0.0.1 and is stopped at the end. Figures are printed, not
asserted: they depend on the machine.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calbridge.bootstrap import Container, build
from calbridge.config import Settings
from calbridge.host.azurite import Azurite
from calbridge.host.processes import ChildProcess, free_port, wait_for_port
from calbridge.model import Direction, End, ResourceMapping, StoredEnd, new_id
from calbridge.store.memory import MemoryStorage
from calbridge.sync.engine import SyncEngine
from tests.fixtures.storage import counting_table_requests

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
USER = "alice"
VDIRSYNCER = "vdirsyncer==0.21.0"
VDIRSYNCER_VENV = ROOT / ".venv-vdirsyncer"
DAV, CALDAV = "DAV:", "urn:ietf:params:xml:ns:caldav"
REQUEST_LINE = re.compile(r"\] (\w+) request for '")
ANSWER_LINE = re.compile(r"\] (\w+) response status for '.*?' in ([0-9.]+) seconds")
TITLES = ("Team sync", "Budget review", "Réunion d'équipe", "Größenplanung", "Standup",
          "会議室の予約", "Встреча с клиентом", "Customer call", "Café ☕ chat", "Planning")  # noqa: RUF001
BERLIN = """BEGIN:VTIMEZONE\r
TZID:Europe/Berlin\r
BEGIN:DAYLIGHT\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
TZNAME:CEST\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
END:DAYLIGHT\r
BEGIN:STANDARD\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
TZNAME:CET\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
END:STANDARD\r
END:VTIMEZONE\r
"""


# ---------------------------------------------------------------- the server


class Radicale:
    """One Radicale on a free loopback port, its collections in a temporary folder, every
    request logged (that log is the request counter)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}/"
        self.password = new_id()
        self.log = folder / "radicale.log"
        self._child: ChildProcess | None = None
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.auth = (USER, self.password)

    def start(self) -> Radicale:
        users = self.folder / "users"
        users.write_text(f"{USER}:{self.password}\n")
        argv = [sys.executable, "-m", "radicale", "--config", "",
                "--server-hosts", f"{HOST}:{self.port}",
                "--storage-filesystem-folder", str(self.folder / "collections"),
                "--storage-type", "radicale_uid_index",
                "--auth-type", "htpasswd", "--auth-htpasswd-filename", str(users),
                "--auth-htpasswd-encryption", "plain", "--rights-type", "owner_only",
                "--logging-level", "info"]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent)}
        self._child = ChildProcess("radicale", argv, cwd=self.folder, env=env,
                                   log_path=self.log, die_with_parent=True).start()
        wait_for_port(HOST, self.port, 60, self._child.process)
        return self

    def stop(self) -> None:
        if self._child:
            self._child.stop()
            self._child = None

    def so_far(self) -> tuple[Counter[str], Counter[str]]:
        """Requests the server has received, and the seconds it spent answering them (its
        own log's figure), by method: one read of its log."""
        log = self.log.read_text(errors="replace")
        spent: Counter[str] = Counter()
        for method, seconds in ANSWER_LINE.findall(log):
            spent[method] += float(seconds)
        return Counter(REQUEST_LINE.findall(log)), spent

    def new_calendar(self, name: str) -> str:
        """MKCALENDAR (RFC 4791 5.3.1) a VEVENT calendar in the home; its path."""
        path = f"/{USER}/{name}/"
        root = ET.Element(f"{{{CALDAV}}}mkcalendar")
        prop = ET.SubElement(ET.SubElement(root, f"{{{DAV}}}set"), f"{{{DAV}}}prop")
        ET.SubElement(prop, f"{{{DAV}}}displayname").text = name
        components = ET.SubElement(prop, f"{{{CALDAV}}}supported-calendar-component-set")
        ET.SubElement(components, f"{{{CALDAV}}}comp", {"name": "VEVENT"})
        answer = self.session.request("MKCALENDAR", self.url.rstrip("/") + path,
                                      data=ET.tostring(root), timeout=30,
                                      headers={"Content-Type": "application/xml"})
        answer.raise_for_status()
        return path

    def storage_folder(self, calendar: str) -> Path:
        return self.folder / "collections" / "collection-root" / calendar.strip("/")

    def fill(self, calendar: str, resources: dict[str, str]) -> None:
        """Write resources straight into the calendar's folder, then have Radicale read
        (and cache) them all once, so neither tool's first listing pays for that."""
        folder = self.storage_folder(calendar)
        for uid, text in resources.items():
            (folder / f"{uid}.ics").write_bytes(text.encode())
        self.session.request("PROPFIND", self.url.rstrip("/") + calendar, timeout=300,
                             headers={"Depth": "1"}).raise_for_status()

    def edit(self, calendar: str, uids: list[str]) -> None:
        """Retitle each resource as a CalDAV client would: GET, then PUT with If-Match."""
        for uid in uids:
            url = self.url.rstrip("/") + f"{calendar}{uid}.ics"
            current = self.session.get(url, timeout=30)
            current.raise_for_status()
            text = re.sub(r"(?m)^(SUMMARY:[^\r\n]*)", r"\1 (edited)", current.text, count=1)
            text = re.sub(r"(?m)^DTSTAMP:[^\r\n]*", "DTSTAMP:" + stamp(datetime.now(UTC)),
                          text)
            answer = self.session.put(url, data=text.encode(), timeout=30, headers={
                "Content-Type": "text/calendar; charset=utf-8",
                "If-Match": current.headers["ETag"]})
            if answer.status_code not in (201, 204):
                raise RuntimeError(f"edit of {uid} refused: {answer.status_code}")


# ---------------------------------------------------------------- the events


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def wall(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


def source_events(count: int, seed: int = 7) -> dict[str, str]:
    """UID → iCalendar text: every tenth a weekly series of ten (09:00 Berlin) with its
    third occurrence excluded and its second moved and retitled; the rest single events
    over the next six months. Titles are unique (they carry the number)."""
    rng = random.Random(seed)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    created = stamp(today - timedelta(days=1))
    resources = {}
    for n in range(count):
        uid = f"bench-{n:05d}"
        title = f"{TITLES[n % len(TITLES)]} #{n}"
        day = today + timedelta(days=rng.randrange(1, 180))
        lines = ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{created}", f"SUMMARY:{title}"]
        if n % 10 == 0:
            first = day.replace(hour=9)
            second, third = first + timedelta(weeks=1), first + timedelta(weeks=2)
            lines += [f"DTSTART;TZID=Europe/Berlin:{wall(first)}",
                      f"DTEND;TZID=Europe/Berlin:{wall(first + timedelta(hours=1))}",
                      "RRULE:FREQ=WEEKLY;COUNT=10",
                      f"EXDATE;TZID=Europe/Berlin:{wall(third)}", "END:VEVENT",
                      "BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{created}",
                      f"RECURRENCE-ID;TZID=Europe/Berlin:{wall(second)}",
                      f"SUMMARY:{title} (moved)",
                      f"DTSTART;TZID=Europe/Berlin:{wall(second + timedelta(hours=2))}",
                      f"DTEND;TZID=Europe/Berlin:{wall(second + timedelta(hours=3))}"]
            zone = BERLIN
        else:
            start = day + timedelta(hours=rng.randrange(7, 19), minutes=rng.choice((0, 30)))
            lines += [f"DTSTART:{stamp(start)}",
                      f"DTEND:{stamp(start + timedelta(minutes=rng.choice((30, 60, 90))))}"]
            zone = ""
        body = "\r\n".join([*lines, "END:VEVENT"]) + "\r\n"
        resources[uid] = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calbridge//bench//EN\r\n"
                          f"{zone}{body}END:VCALENDAR\r\n")
    return resources


def edited_uids(count: int, edits: int) -> list[str]:
    """`edits` resources spread over the calendar, one in ten of them a series."""
    step = max(count // max(edits, 1), 1)
    chosen = [k * step + (0 if k % 10 == 0 else 1) for k in range(edits)]
    return [f"bench-{n:05d}" for n in chosen if n < count]


# ---------------------------------------------------------------- comparing


def _instant(value: Any) -> Any:
    moment = value.dt if hasattr(value, "dt") else value
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        return moment.astimezone(UTC)
    return moment


def _rrule(master: Any) -> tuple | None:
    rule = master.get("RRULE")
    if rule is None:
        return None
    return tuple(sorted((k.upper(), tuple(str(v) for v in values)) for k, values in rule.items()))


def _exdates(master: Any) -> tuple:
    found = master.get("EXDATE") or []
    lists = found if isinstance(found, list) else [found]
    return tuple(sorted(_instant(d) for item in lists for d in item.dts))


def digest(text: str) -> tuple[str, str, tuple]:
    """A resource's title, UID and what must survive a sync: start, RRULE, EXDATEs and
    overrides (original instant → title and start)."""
    events = list(icalendar.Calendar.from_ical(text).walk("VEVENT"))
    master = next(e for e in events if "RECURRENCE-ID" not in e)
    overrides = tuple(sorted((_instant(e["RECURRENCE-ID"]), str(e.get("SUMMARY")),
                              _instant(e["DTSTART"])) for e in events if "RECURRENCE-ID" in e))
    title = str(master.get("SUMMARY"))
    return title, str(master.get("UID")), (_instant(master["DTSTART"]), _rrule(master),
                                           _exdates(master), overrides)


@dataclass
class Comparison:
    events: int
    matching: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    uids_kept: int = 0

    @property
    def same(self) -> bool:
        return self.matching == self.events and not self.extra


def compare(source: Path, target: Path) -> Comparison:
    """Every target resource against the source resource of the same (unique) title."""
    def read(folder: Path) -> dict[str, tuple[str, tuple]]:
        found = {}
        for path in folder.glob("*.ics"):
            title, uid, fields = digest(path.read_text(encoding="utf-8"))
            found[title] = (uid, fields)
        return found

    wanted, got = read(source), read(target)
    result = Comparison(events=len(wanted))
    for title, (uid, fields) in wanted.items():
        if title not in got:
            result.missing.append(title)
        elif got[title][1] != fields:
            result.different.append(f"{title}: {fields} → {got[title][1]}")
        else:
            result.matching += 1
            result.uids_kept += got[title][0] == uid
    result.extra = [title for title in got if title not in wanted]
    return result


# ---------------------------------------------------------------- measuring


@dataclass
class Row:
    tool: str
    phase: str
    seconds: float
    requests: Counter[str]
    peak_mb: float | None
    note: str = ""
    server: Counter[str] = field(default_factory=Counter)


def _reset_peak() -> bool:
    """Reset this process's peak RSS (Linux: clear_refs 5); False where that is refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measured(server: Radicale, tool: str, phase: str,
             work: Callable[[], tuple[float | None, str]]) -> Row:
    before, spent = server.so_far()
    started = time.perf_counter()
    peak, note = work()
    seconds = time.perf_counter() - started
    after, spent_after = server.so_far()
    return Row(tool, phase, seconds, after - before, peak, note, spent_after - spent)


# ---------------------------------------------------------------- the tools


def calbridge_runs(server: Radicale, azurite: Azurite, source: str, target: str,
                   edit: Callable[[], None], events: int,
                   profile: Path | None, workers: int | None = None, *,
                   in_memory: bool = False) -> list[Row]:
    """calbridge in this process: bridges `src` and `dst` on the server's home, one
    mapping source → target, the engine run as the sync timer runs it. `in_memory`: its
    links, cursors and log held in memory (`calbridge.store.memory`, the same contract as
    Table Storage) instead of Azurite, to tell the storage emulator's share apart."""
    home = server.url + USER + "/"
    env = {"AzureWebJobsStorage": azurite.connection_string,
           "CALBRIDGE_BRIDGES": "src=caldav,dst=caldav",
           "CALBRIDGE_TABLE_PREFIX": "bench" + new_id()[:8],
           # Every write of the first sync done in the run, none left to the queue.
           "CALBRIDGE_INLINE_OPERATIONS": str(max(events, 1) * 4)}
    if workers is not None:
        env["CALBRIDGE_SYNC_WORKERS"] = str(workers)
    for name in ("SRC", "DST"):
        env |= {f"{name}__CALDAV_URL": home, f"{name}__CALDAV_USERNAME": USER,
                f"{name}__CALDAV_PASSWORD": server.password}
    container = build(Settings.from_env(env))
    if in_memory:
        container = Container(container.settings, MemoryStorage(), container.bridges)
    container.storage.ensure()
    mapping = container.storage.mappings.add(ResourceMapping(
        a=StoredEnd(bridge="src", calendar_id=source),
        b=StoredEnd(bridge="dst", calendar_id=target), direction=Direction.A_TO_B))
    engine = SyncEngine.for_container(container)
    resettable = _reset_peak()

    def run(phase: str) -> Callable[[], tuple[float | None, str]]:
        def work() -> tuple[float | None, str]:
            _reset_peak()
            cpu = time.process_time()
            profiler = cProfile.Profile() if profile else None
            if profiler:
                profiler.enable()
            with counting_table_requests(azurite.ports[2]) as table:
                outcomes = engine.run(container.storage.mappings.get(mapping.id), End.A)
            if profiler and profile:
                profiler.disable()
                profiler.dump_stats(str(profile.with_name(profile.stem + phase + profile.suffix)))
            failed = sum(1 for o in outcomes if o.status == "failed")
            written = sum(1 for o in outcomes if o.written)
            return _peak_mb(), (f"{written} written" + (f", {failed} failed" if failed else "")
                                + f"; {time.process_time() - cpu:.1f} s of CPU"
                                + f"; table: {table.reads} reads, {table.writes} writes, "
                                f"{table.transactions} transactions, {table.seconds:.1f} s")
        return work

    tool = "calbridge" + (" †" if in_memory else "")
    rows = [measured(server, tool, "first sync", run("")),
            measured(server, tool, "quiet sync", run("-quiet"))]
    edit()
    rows.append(measured(server, tool, "after edits", run("-edits")))
    if not resettable:
        for row in rows:
            row.note += " (peak: whole process)"
    return rows


# A child's ru_maxrss starts at its parent's peak when it execs, so vdirsyncer is started
# by a small launcher (not by this process, which holds calbridge) that reports the peak
# RSS (and the CPU time) of vdirsyncer alone.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def vdirsyncer_executable() -> Path:
    """vdirsyncer in a venv of its own (its pins must not hold the project's back)."""
    executable = VDIRSYNCER_VENV / "bin" / "vdirsyncer"
    if not executable.exists():
        print(f"installing {VDIRSYNCER} into {VDIRSYNCER_VENV.name} …", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VDIRSYNCER_VENV)],  # noqa: S603
                       check=True)
        subprocess.run([str(VDIRSYNCER_VENV / "bin" / "pip"), "install",  # noqa: S603
                        "--quiet", "--disable-pip-version-check", VDIRSYNCER], check=True)
    return executable


def vdirsyncer_runs(server: Radicale, folder: Path, source: str, target: str,
                    edit: Callable[[], None]) -> list[Row]:
    """vdirsyncer on the same server: one pair of the two calendars, `a wins`."""
    executable = vdirsyncer_executable()
    config = folder / "vdirsyncer.conf"
    storage = "\n".join(
        f'[storage bench_{end}]\ntype = "caldav"\nurl = "{server.url.rstrip("/")}{path}"\n'
        f'username = "{USER}"\npassword = "{server.password}"\n'
        for end, path in (("a", source), ("b", target)))
    config.write_text(f'[general]\nstatus_path = "{folder / "vdirsyncer-status"}/"\n\n'
                      '[pair bench]\na = "bench_a"\nb = "bench_b"\ncollections = null\n'
                      f'conflict_resolution = "a wins"\n\n{storage}')
    env = {**os.environ, "VDIRSYNCER_CONFIG": str(config)}
    log = folder / "vdirsyncer.log"

    def invoke(command: str) -> tuple[float | None, str]:
        peak = folder / "vdirsyncer.maxrss"
        with log.open("ab") as output:
            finished = subprocess.run(  # noqa: S603 - argv built here
                [sys.executable, "-S", "-c", LAUNCHER, str(peak), str(executable), command],
                env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                timeout=1800, check=False)
        if finished.returncode:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"vdirsyncer {command} exited {finished.returncode}:\n{tail}")
        maxrss, cpu = peak.read_text().split()
        return int(maxrss) / 1024, f"{float(cpu):.1f} s of CPU"

    invoke("discover")
    rows = [measured(server, "vdirsyncer", "first sync", lambda: invoke("sync")),
            measured(server, "vdirsyncer", "quiet sync", lambda: invoke("sync"))]
    edit()
    rows.append(measured(server, "vdirsyncer", "after edits", lambda: invoke("sync")))
    return rows


def put_only_runs(server: Radicale, resources: dict[str, str],
                  targets: tuple[str, str]) -> list[Row]:
    """The server's floor: the source's resources PUT as they are into empty calendars,
    one at a time (as vdirsyncer writes) and four at a time (as calbridge does) — no
    listing, no reading, no state. No client's first sync can take less."""
    def put(calendar: str, uid: str, text: str) -> None:
        answer = server.session.put(
            server.url.rstrip("/") + f"{calendar}{uid}.ics", data=text.encode(), timeout=60,
            headers={"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"})
        answer.raise_for_status()

    def one_at_a_time() -> tuple[float | None, str]:
        for uid, text in resources.items():
            put(targets[0], uid, text)
        return None, ""

    def four_at_a_time() -> tuple[float | None, str]:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda item: put(targets[1], *item), resources.items()))
        return None, ""

    return [measured(server, "PUT only", "one at a time", one_at_a_time),
            measured(server, "PUT only", "four at once", four_at_a_time)]


# ---------------------------------------------------------------- the report


def print_table(rows: list[Row]) -> None:
    print(f"{'tool':<11} {'phase':<12} {'seconds':>8} {'server s':>8} {'requests':>9} "
          f"{'peak MB':>8}  requests by method (and the server's seconds on them)")
    for row in rows:
        methods = ", ".join(f"{m} {c} ({row.server[m]:.1f} s)"
                            for m, c in sorted(row.requests.items()))
        peak = f"{row.peak_mb:8.0f}" if row.peak_mb is not None else f"{'-':>8}"
        print(f"{row.tool:<11} {row.phase:<12} {row.seconds:>8.2f} "
              f"{sum(row.server.values()):>8.2f} {sum(row.requests.values()):>9} {peak}  "
              f"{methods}" + (f"  [{row.note}]" if row.note else ""))
    theirs = {r.phase: r for r in rows if r.tool == "vdirsyncer"}

    def ratio(other: float | None, own: float | None) -> str:
        return f"{other / own:.2f}" if other is not None and own else "-"
    for tool in ("calbridge", "calbridge †"):
        ours = [r for r in rows if r.tool == tool]
        if not ours or not theirs:
            continue
        print(f"\nvdirsyncer / {tool} (above 1: calbridge used less)")
        print(f"{'phase':<12} {'seconds':>8} {'requests':>9} {'peak MB':>8}")
        for mine in ours:
            row = theirs[mine.phase]
            print(f"{row.phase:<12} {ratio(row.seconds, mine.seconds):>8} "
                  f"{ratio(sum(row.requests.values()), sum(mine.requests.values())):>9} "
                  f"{ratio(row.peak_mb, mine.peak_mb):>8}")
    floor = min((r.seconds for r in rows if r.tool == "PUT only"), default=None)
    first = next((r.seconds for r in rows
                  if r.tool == "vdirsyncer" and r.phase == "first sync"), None)
    if floor and first:
        print(f"\nthe server's floor: PUTting the source's resources and nothing else took "
              f"{floor:.2f} s, so no client's first sync can be more than {first / floor:.2f} "
              "times vdirsyncer's speed against this server")


def print_comparison(tool: str, result: Comparison) -> None:
    verdict = "matches the source" if result.same else "DIFFERS from the source"
    print(f"{tool:<11} target {verdict}: {result.matching}/{result.events} events equal "
          f"(title, start, RRULE, EXDATEs, overrides), {len(result.missing)} missing, "
          f"{len(result.different)} different, {len(result.extra)} extra; "
          f"source UIDs kept: {result.uids_kept}")
    for line in (result.different + result.missing + result.extra)[:3]:
        print(f"    {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--profile", type=Path, default=None,
                        help="write cProfile stats of calbridge's first sync to this file "
                             "(and of its quiet sync and sync after edits beside it, with "
                             "-quiet and -edits added to its name)")
    parser.add_argument("--workers", type=int, default=None,
                        help="CALBRIDGE_SYNC_WORKERS for calbridge (default: the app's); "
                             "1 puts every write on the profiled thread")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    executable = vdirsyncer_executable()  # before anything starts: it may install
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="calbridge-caldav-bench-") as name:
        folder = Path(name)
        server = Radicale(folder).start()
        azurite = Azurite(workspace=folder / "azurite").start()
        try:
            calendars = {key: server.new_calendar(key)
                         for key in ("cb-source", "cb-target", "cbm-source", "cbm-target",
                                     "vds-source", "vds-target", "put-1", "put-4")}
            resources = source_events(args.events)
            for key in ("cb-source", "cbm-source", "vds-source"):
                server.fill(calendars[key], resources)
            setup_seconds = time.perf_counter() - began
            edits = edited_uids(args.events, args.edits)
            rows = calbridge_runs(
                server, azurite, calendars["cb-source"], calendars["cb-target"],
                lambda: server.edit(calendars["cb-source"], edits), args.events, args.profile,
                args.workers)
            rows += calbridge_runs(
                server, azurite, calendars["cbm-source"], calendars["cbm-target"],
                lambda: server.edit(calendars["cbm-source"], edits), args.events, None,
                args.workers, in_memory=True)
            rows += vdirsyncer_runs(
                server, folder, calendars["vds-source"], calendars["vds-target"],
                lambda: server.edit(calendars["vds-source"], edits))
            rows += put_only_runs(server, resources, (calendars["put-1"], calendars["put-4"]))
            results = {tool: compare(server.storage_folder(calendars[f"{key}-source"]),
                                     server.storage_folder(calendars[f"{key}-target"]))
                       for tool, key in (("calbridge", "cb"), ("calbridge †", "cbm"),
                                         ("vdirsyncer", "vds"))}
        finally:
            azurite.stop()
            server.stop()
    series = (args.events + 9) // 10
    print(f"\nCalDAV sync benchmark: {args.events} events ({series} weekly series with an "
          f"override and an EXDATE), {len(edits)} edits, Radicale on loopback, "
          f"{executable.parent.parent.name}: {VDIRSYNCER}")
    print(f"set-up (servers, calendars, events written and read once): {setup_seconds:.1f} s\n")
    print_table(rows)
    print()
    for tool, result in results.items():
        print_comparison(tool, result)
    print("\nrequests: CalDAV requests Radicale received (its log); calbridge's Table Storage "
          "requests are in its notes\n(a transaction is one request; their seconds summed over "
          "the threads that waited on them).\nserver s: the seconds Radicale took to answer, "
          "summed over its requests (from its log; requests\nanswered at once each count "
          "their own, waits for its write lock included).\n"
          "peak MB: peak RSS of the process doing the sync — "
          "calbridge: this process (VmHWM, reset before each phase; it also holds the\n"
          "benchmark), vdirsyncer: its process (wait4 ru_maxrss). vdirsyncer syncs both "
          "ways; calbridge's mapping is a_to_b.\n"
          "calbridge †: the same, its links, cursors and log held in memory instead of Table "
          "Storage (Azurite), to\nshow the storage emulator's share (Azurite looks a row up by "
          "going through its whole partition).")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make serve` keeps its storage on disk (Azurite with a data folder). A host killed
outright (SIGKILL, a crash) must not take acknowledged writes with it: Azurite writes its
tables to disk every five seconds and when it shuts down, and a host with many threads
once sent it two stop signals as it died, the second ending it before that last write, so
bookings synced in the host's last seconds were copied again after a restart."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from azure.data.tables import TableServiceClient

from calbridge.host.azurite import Azurite
from calbridge.host.processes import free_port

HOST = textwrap.dedent("""
    import os, sys, threading
    from pathlib import Path
    from concurrent.futures import ThreadPoolExecutor
    from azure.data.tables import TableServiceClient
    from calbridge.host.azurite import Azurite

    folder, ports = Path(sys.argv[1]), tuple(int(p) for p in sys.argv[2:5])
    azurite = Azurite(data_dir=folder / "data", workspace=folder, ports=ports,
                      log_path=folder / "azurite.log").start()
    table = TableServiceClient.from_connection_string(
        azurite.connection_string).create_table_if_not_exists("Durability")
    idle = threading.Event()
    for _ in range(64):  # a host's many threads (HTTP, timers, queue pollers)
        threading.Thread(target=idle.wait, daemon=True).start()
    acked = (folder / "acked").open("w")
    lock = threading.Lock()

    def write(n):
        table.upsert_entity({"PartitionKey": "p", "RowKey": f"{n:06d}"})
        with lock:
            acked.write(f"{n}\\n")
            acked.flush()
            if n == 300:
                os.kill(os.getpid(), 9)  # killed outright, writes still in flight

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(100_000)))
""")


def test_a_host_killed_outright_loses_no_acknowledged_write(tmp_path: Path) -> None:
    ports = [free_port() for _ in range(3)]
    host = subprocess.run([sys.executable, "-c", HOST, str(tmp_path), *map(str, ports)],
                          capture_output=True, timeout=120, check=False)
    assert host.returncode == -9, host.stderr.decode()[-2000:]
    acked = {int(line) for line in (tmp_path / "acked").read_text().split()}
    assert 300 in acked
    azurite = Azurite(data_dir=tmp_path / "data", workspace=tmp_path, ports=tuple(ports),
                      log_path=tmp_path / "azurite-again.log")
    deadline = time.monotonic() + 30
    while True:  # the killed host's Azurite finishes writing its tables, then lets go
        try:
            azurite.start()
            break
        except OSError:
            assert time.monotonic() < deadline, "the first Azurite never stopped"
            time.sleep(0.2)
    try:
        table = TableServiceClient.from_connection_string(
            azurite.connection_string).get_table_client("Durability")
        stored = {int(row["RowKey"]) for row in table.list_entities()}
    finally:
        azurite.stop()
    assert acked <= stored

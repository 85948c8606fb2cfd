"""`calbridge backup FILE` / `calbridge restore FILE`: every calbridge table, straight
from storage, to and from a JSON Lines file (format in `backup_file`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import TableServiceClient, TableTransactionError, UpdateMode

from calbridge import push_secrets
from calbridge.cli import backup_file
from calbridge.cli.failures import EXIT_OK, CommandFailed, Unreachable, UsageError
from calbridge.config import Settings
from calbridge.errors import CalbridgeError, ConfigurationError
from calbridge.host.app import load_local_settings
from calbridge.store import TABLES, Storage, schema
from calbridge.store.clients import table_service
from calbridge.store.transactions import submit

SENSITIVE = ("Backups are sensitive: they hold everything calbridge stores, including the "
             "client state secrets of push subscriptions. Keep them as safe as the app "
             "settings; a backup file is created readable by its owner only.")
PROGRESS_EVERY = 1000
MAX_BATCH_OPERATIONS = 100  # the Table service's limit per transaction
MAX_BATCH_BYTES = 2 * 1024 * 1024  # well under the 4 MiB request limit


def register(commands: argparse._SubParsersAction) -> None:
    backup = commands.add_parser(
        "backup", help="copy every calbridge table to a file",
        description="Write every calbridge table, straight from storage, to FILE as JSON "
                    "Lines (a header line, then one line per entity, types preserved). "
                    "Changes made while it runs may or may not be included: stop the "
                    "Function App first for an exact copy. " + SENSITIVE)
    backup.add_argument("file", metavar="FILE", help="where to write; - for stdout")
    _storage_options(backup)
    backup.set_defaults(run=back_up)

    restore = commands.add_parser(
        "restore", help="write a backup file back into storage",
        description="Write every entity of a backup back into storage (insert or replace), "
                    "creating missing tables. Running it twice is the same as once. Rows "
                    "that are not in the backup are left alone: restore into empty tables "
                    "for an exact copy. " + SENSITIVE)
    restore.add_argument("file", metavar="FILE", help="the backup to read; - for stdin")
    _storage_options(restore)
    restore.set_defaults(run=restore_backup)


def _storage_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--settings", type=Path, default=None, metavar="JSON",
                        help="a local.settings.json whose Values fill settings the environment "
                             "does not set (AzureWebJobsStorage, CALBRIDGE_TABLE_PREFIX, ...)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


# ---- settings and storage ------------------------------------------------------------

def storage_settings(settings_file: Path | None) -> Settings:
    env = dict(os.environ)
    if settings_file is not None:
        if not settings_file.is_file():
            raise UsageError(f"settings file {settings_file} does not exist")
        try:
            load_local_settings(settings_file, env)
        except ValueError as exc:
            raise UsageError(f"settings file {settings_file} is not valid JSON: {exc}") from None
    try:
        return Settings.from_env(env)
    except ConfigurationError as exc:
        raise UsageError(exc.message) from None


@contextlib.contextmanager
def storage_failures(what: str) -> Iterator[None]:
    """SDK errors → exit codes: unreachable storage is 3, anything else 1."""
    try:
        yield
    except (ServiceRequestError, ServiceResponseError):
        raise Unreachable(f"storage is unreachable ({what})") from None
    except ClientAuthenticationError:
        raise CommandFailed(f"storage refused the credentials ({what})") from None
    except TableTransactionError as exc:
        raise CommandFailed(f"storage refused a batch ({what}): "
                            f"{getattr(exc, 'error_code', None) or 'transaction failed'}"
                            ) from None
    except HttpResponseError as exc:
        raise CommandFailed(f"storage answered {exc.status_code} ({what})") from None
    except AzureError as exc:
        raise CommandFailed(f"storage failed ({what}): {type(exc).__name__}") from None


class Progress:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr,
                  flush=True)


# ---- backup ----------------------------------------------------------------------------

def back_up(args: argparse.Namespace) -> int:
    settings = storage_settings(args.settings)
    progress = Progress(args.quiet)
    service = table_service(settings)
    with _output(args.file) as out:
        counts = write_backup(service, settings, out, progress)
    total = sum(counts.values())
    target = "stdout" if args.file == "-" else args.file
    progress(f"backed up {total} entities from {len(counts)} tables to {target}")
    return EXIT_OK


def write_backup(service: TableServiceClient, settings: Settings, out: IO[bytes],
                 progress: Callable[[str], None]) -> dict[str, int]:
    """Every table in `TABLES` to `out`; entity counts by table (base name)."""
    out.write(json.dumps(backup_file.header(
        TABLES, push_secrets.key_id(settings.push_key))).encode() + b"\n")
    counts: dict[str, int] = {}
    for base in TABLES:
        name = settings.table_name(base)
        count = 0
        with storage_failures(f"reading {name}"):
            try:
                for entity in service.get_table_client(name).list_entities():
                    out.write(backup_file.entity_line(base, entity))
                    count += 1
                    if count % PROGRESS_EVERY == 0:
                        progress(f"{name}: {count} entities")
            except ResourceNotFoundError:
                progress(f"{name}: no such table, nothing to back up")
        counts[base] = count
        progress(f"{name}: {count} entities backed up")
    return counts


@contextlib.contextmanager
def _output(file: str) -> Iterator[IO[bytes]]:
    """stdout for `-`; else a private file written beside the target and moved into
    place only when complete, so an interrupted backup never looks like a whole one."""
    if file == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(file)
    partial = target.with_name(target.name + ".partial")
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise CommandFailed(f"cannot write {partial}: {exc.strerror}") from None
    try:
        with os.fdopen(descriptor, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


# ---- restore ---------------------------------------------------------------------------

def restore_backup(args: argparse.Namespace) -> int:
    settings = storage_settings(args.settings)
    progress = Progress(args.quiet)
    with _input(args.file) as source:
        first = source.readline()
        try:
            header = backup_file.read_header(first, TABLES)
            if source.seekable():  # check every line before writing any
                start = source.tell()
                for _ in backup_file.read_entities(source, header["tables"]):
                    pass
                source.seek(start)
        except backup_file.NotABackup as exc:
            raise UsageError(f"{_shown(args.file)}: {exc}") from None
        service = table_service(settings)
        try:
            counts = write_restore(service, settings, header["tables"],
                                   backup_file.read_entities(source, header["tables"]),
                                   progress)
        except backup_file.NotABackup as exc:
            raise CommandFailed(f"{_shown(args.file)}: {exc}; entities before it were "
                                "restored (restoring again is safe)") from None
    progress(f"restored {sum(counts.values())} entities into {len(counts)} tables "
             f"(backup of {header.get('created_at', 'unknown time')})")
    written_under = backup_file.push_key_id(header)
    if written_under not in (None, push_secrets.key_id(settings.push_key)):
        progress("warning: the backup's push subscriptions verify under another "
                 "CALBRIDGE_PUSH_SECRET_KEY than this one; set that key, or delete and "
                 "create the subscriptions again (their notifications are refused until "
                 "then)")
    if header["schema"] < schema.CURRENT:
        # Rows of an older schema: upgraded now, as the app would on its next start.
        storage = Storage(settings)
        try:
            with storage_failures("upgrading the restored tables"):
                with contextlib.suppress(ResourceExistsError):
                    service.create_table(settings.table_name(schema.TABLE))
            schema.set_version(storage.schema, header["schema"])
            storage.ensure()
        except CalbridgeError as exc:
            raise CommandFailed(f"upgrading the restored tables failed: {exc.message}; "
                                "restoring again is safe") from None
        progress(f"upgraded the restored tables from schema {header['schema']} to "
                 f"{schema.CURRENT}")
    return EXIT_OK


def write_restore(service: TableServiceClient, settings: Settings, tables: list[str],
                  entities: Iterator[tuple[str, dict[str, Any]]],
                  progress: Callable[[str], None]) -> dict[str, int]:
    """Create the tables, then upsert (replace) every entity in per-partition batches."""
    for base in tables:
        with storage_failures(f"creating {settings.table_name(base)}"):
            try:
                service.create_table(settings.table_name(base))
            except ResourceExistsError:
                pass
    counts = dict.fromkeys(tables, 0)
    batch = _Batch()

    def flush() -> None:
        if not batch.operations:
            return
        name = settings.table_name(batch.table)
        with storage_failures(f"writing {name}"):
            submit(service.get_table_client(name), batch.operations)
        before = counts[batch.table]
        counts[batch.table] += len(batch.operations)
        if counts[batch.table] // PROGRESS_EVERY > before // PROGRESS_EVERY:
            progress(f"{name}: {counts[batch.table]} entities restored")
        batch.clear()

    for table, entity in entities:
        if not batch.fits(table, entity):
            flush()
        batch.add(table, entity)
    flush()
    for base in tables:
        progress(f"{settings.table_name(base)}: {counts[base]} entities restored")
    return counts


class _Batch:
    """Upserts for one entity-group transaction: one table and partition, ≤ 100 rows."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.table = ""
        self.partition: str | None = None
        self.operations: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self.rows: set[str] = set()
        self.size = 0

    def fits(self, table: str, entity: dict[str, Any]) -> bool:
        if not self.operations:
            return True
        return (table == self.table and entity["PartitionKey"] == self.partition
                and entity["RowKey"] not in self.rows
                and len(self.operations) < MAX_BATCH_OPERATIONS
                and self.size + _approximate_size(entity) <= MAX_BATCH_BYTES)

    def add(self, table: str, entity: dict[str, Any]) -> None:
        self.table, self.partition = table, entity["PartitionKey"]
        self.operations.append(("upsert", entity, {"mode": UpdateMode.REPLACE}))
        self.rows.add(entity["RowKey"])
        self.size += _approximate_size(entity)


def _approximate_size(entity: dict[str, Any]) -> int:
    return sum(len(str(key)) + len(str(value)) + 32 for key, value in entity.items())


@contextlib.contextmanager
def _input(file: str) -> Iterator[IO[bytes]]:
    if file == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = open(file, "rb")
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}") from None
    with stream:
        yield stream


def _shown(file: str) -> str:
    return "stdin" if file == "-" else file

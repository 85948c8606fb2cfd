"""State in Azure Table Storage and Storage Queues."""

from __future__ import annotations

from azure.core.exceptions import ResourceExistsError

from calbridge.config import Settings
from calbridge.store import (
    cursors,
    deliveries,
    holds,
    links,
    mappings,
    operations,
    schema,
    subscriptions,
)
from calbridge.store.clients import queue_service, table_service
from calbridge.store.cursors import CursorRepository
from calbridge.store.deliveries import DeliveryRepository
from calbridge.store.entities import storage_errors
from calbridge.store.holds import HoldRepository
from calbridge.store.links import LinkRepository
from calbridge.store.mappings import MappingRepository
from calbridge.store.operations import OperationRepository
from calbridge.store.queues import QUEUES, WorkQueue, ensure_queue, poison_queue_name, queue_client
from calbridge.store.subscriptions import SubscriptionRepository

TABLES = (mappings.TABLE, links.TABLE, cursors.TABLE, subscriptions.TABLE, operations.TABLE,
          holds.TABLE, schema.TABLE)
# Created like the others but not backed up: what they hold means nothing minutes later.
SHORT_LIVED_TABLES = (deliveries.TABLE,)


class Storage:
    """Every repository and queue over one storage account."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tables = table_service(settings)
        self.queues = queue_service(settings)
        table = lambda base: self.tables.get_table_client(settings.table_name(base))  # noqa: E731
        self.mappings = MappingRepository(table(mappings.TABLE))
        self.links = LinkRepository(table(links.TABLE))
        self.cursors = CursorRepository(table(cursors.TABLE))
        self.subscriptions = SubscriptionRepository(table(subscriptions.TABLE),
                                                    settings.push_key)
        self.operations = OperationRepository(table(operations.TABLE))
        self.holds = HoldRepository(table(holds.TABLE))
        self.deliveries = DeliveryRepository(table(deliveries.TABLE))
        self.schema = table(schema.TABLE)
        self._ready = False

    def queue(self, name: str) -> WorkQueue:
        return WorkQueue(queue_client(self.queues, name))

    def create_queue(self, name: str) -> None:
        """Create a queue and its poison queue (idempotent)."""
        with storage_errors(f"queue {name}"):
            ensure_queue(queue_client(self.queues, name))
            ensure_queue(queue_client(self.queues, poison_queue_name(name)))

    def ensure(self) -> None:
        """Create the tables and queues, and upgrade tables written by earlier versions,
        once per process (idempotent)."""
        if self._ready:
            return
        with storage_errors("storage set-up"):
            for base in TABLES + SHORT_LIVED_TABLES:
                try:
                    self.tables.create_table(self.settings.table_name(base))
                except ResourceExistsError:
                    pass
        for name in QUEUES:
            self.create_queue(name)
        self.upgrade()
        self._ready = True

    def upgrade(self) -> dict[str, int]:
        """Bring tables written by earlier versions to the current schema (see `schema`)."""
        return schema.upgrade(self.schema, self.mappings.table, self.links.table,
                              self.holds.table, self.subscriptions.table,
                              self.settings.push_key)

    def ping(self) -> None:
        """Raises `StorageUnavailable` when storage cannot be reached."""
        with storage_errors("storage"):
            next(iter(self.tables.list_tables(results_per_page=1)), None)


__all__ = ["CursorRepository", "DeliveryRepository", "HoldRepository", "LinkRepository",
           "MappingRepository", "OperationRepository", "Storage", "SubscriptionRepository",
           "WorkQueue"]

"""Table and queue service clients for `AzureWebJobsStorage`: a connection string
(Azurite locally) or identity-based `AzureWebJobsStorage__*` settings in Azure."""

from __future__ import annotations

from typing import Any

from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueServiceClient
from requests import Session
from requests.adapters import HTTPAdapter

from calbridge.config import Settings
from calbridge.connections import pooled_adapter

# Azurite's well-known development account (public, documented by Microsoft).
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

# Fail fast when storage is unreachable: health must answer 503 in seconds, and
# triggers are retried by the host anyway.
TIMEOUTS: dict[str, Any] = {"connection_timeout": 5, "read_timeout": 20}


class PooledTransport(RequestsTransport):
    """The storage SDK's `requests` transport with a connection pool for
    `connections.POOL_SIZE` (the SDK's own keeps 10)."""

    def _init_session(self, session: Session) -> None:
        super()._init_session(session)
        for prefix, adapter in list(session.adapters.items()):
            if isinstance(adapter, HTTPAdapter):
                session.mount(prefix, pooled_adapter(max_retries=adapter.max_retries))


def _options() -> dict[str, Any]:
    return {"retry_total": 2, "transport": PooledTransport(**TIMEOUTS)}


def development_connection_string(host: str = "127.0.0.1", blob: int = 10000,
                                  queue: int = 10001, table: int = 10002) -> str:
    """The connection string of an Azurite instance on the given ports."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
        f"BlobEndpoint=http://{host}:{blob}/{DEV_ACCOUNT};"
        f"QueueEndpoint=http://{host}:{queue}/{DEV_ACCOUNT};"
        f"TableEndpoint=http://{host}:{table}/{DEV_ACCOUNT};"
    )


def _connection_string(settings: Settings) -> str | None:
    value = settings.storage_connection_string
    if value and value.strip().lower().startswith("usedevelopmentstorage=true"):
        return development_connection_string()
    return value


def _credential(settings: Settings) -> Any:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=settings.storage_client_id)


def table_service(settings: Settings) -> TableServiceClient:
    connection = _connection_string(settings)
    if connection:
        return TableServiceClient.from_connection_string(connection, **_options())
    endpoint = settings.storage_table_uri or (
        f"https://{settings.storage_account_name}.table.core.windows.net")
    return TableServiceClient(endpoint=endpoint, credential=_credential(settings),
                              **_options())


def queue_service(settings: Settings) -> QueueServiceClient:
    connection = _connection_string(settings)
    if connection:
        return QueueServiceClient.from_connection_string(connection, **_options())
    endpoint = settings.storage_queue_uri or (
        f"https://{settings.storage_account_name}.queue.core.windows.net")
    return QueueServiceClient(account_url=endpoint, credential=_credential(settings),
                              **_options())

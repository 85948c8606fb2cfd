"""Storage queues: JSON messages, base64-encoded as the Functions host expects by
default (`messageEncoding: base64`)."""

from __future__ import annotations

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import (
    BinaryBase64DecodePolicy,
    BinaryBase64EncodePolicy,
    QueueClient,
    QueueServiceClient,
)
from pydantic import BaseModel

from calbridge.store.entities import storage_errors

SYNC_WORK = "sync-work"
NOTIFICATIONS = "notifications"
QUEUES = (SYNC_WORK, NOTIFICATIONS)


def poison_queue_name(queue: str) -> str:
    return f"{queue}-poison"


def queue_client(service: QueueServiceClient, name: str) -> QueueClient:
    return service.get_queue_client(name, message_encode_policy=BinaryBase64EncodePolicy(),
                                    message_decode_policy=BinaryBase64DecodePolicy())


def ensure_queue(client: QueueClient) -> None:
    try:
        client.create_queue()
    except ResourceExistsError:
        pass


class WorkQueue:
    """Sends pydantic messages to one queue."""

    def __init__(self, client: QueueClient) -> None:
        self.client = client

    def send(self, message: BaseModel, *, delay_seconds: int = 0) -> None:
        with storage_errors(f"queue {self.client.queue_name}"):
            self.client.send_message(message.model_dump_json().encode(),
                                     visibility_timeout=delay_seconds or None)

    def depth(self) -> int:
        with storage_errors(f"queue {self.client.queue_name}"):
            return self.client.get_queue_properties().approximate_message_count

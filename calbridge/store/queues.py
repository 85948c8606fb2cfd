"""Storage queues: JSON messages, base64-encoded as the Functions host expects by
default (`messageEncoding: base64`)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TypeVar

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

# A queue message holds at most 64 KiB; base64 turns 3 bytes into 4, so the JSON inside
# may be 48 KiB. A little is kept back for the envelope a batch is wrapped in.
MAX_MESSAGE_BYTES = 48 * 1024
_ENVELOPE_BYTES = 256
# Sends under way at once in `send_all`: each is one HTTP round trip to the queue.
SEND_CONCURRENCY = 8

M = TypeVar("M", bound=BaseModel)


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


def batches(items: Sequence[M], *, most: int) -> list[list[M]]:
    """`items` in order, cut into runs of at most `most` whose JSON fits one message
    (with room for an envelope). Storage Queues have no batch send, so many small
    messages travel as one. Raises `ValueError` for an item too large on its own."""
    budget = MAX_MESSAGE_BYTES - _ENVELOPE_BYTES
    runs: list[list[M]] = []
    run: list[M] = []
    size = 0
    for item in items:
        length = len(item.model_dump_json().encode()) + 1  # and its separating comma
        if length > budget:
            raise ValueError(f"a {type(item).__name__} of {length} bytes does not fit a "
                             "queue message")
        if run and (len(run) >= most or size + length > budget):
            runs.append(run)
            run, size = [], 0
        run.append(item)
        size += length
    if run:
        runs.append(run)
    return runs


def message_body(message: BaseModel) -> bytes:
    """A message as the queue holds it; `ValueError` when it is over the size limit."""
    body = message.model_dump_json().encode()
    if len(body) > MAX_MESSAGE_BYTES:
        raise ValueError(f"a queue message of {len(body)} bytes is over the "
                         f"{MAX_MESSAGE_BYTES}-byte limit")
    return body


class WorkQueue:
    """Sends pydantic messages to one queue."""

    def __init__(self, client: QueueClient) -> None:
        self.client = client

    def send(self, message: BaseModel, *, delay_seconds: int = 0) -> None:
        body = message_body(message)
        with storage_errors(f"queue {self.client.queue_name}"):
            self.client.send_message(body, visibility_timeout=delay_seconds or None)

    def send_all(self, messages: Sequence[BaseModel]) -> None:
        """Send every message, several at once (Storage Queues have no batch send).
        Each is tried; the first failure is raised after all have finished."""
        if len(messages) <= 1:
            for message in messages:
                self.send(message)
            return
        with ThreadPoolExecutor(max_workers=min(SEND_CONCURRENCY, len(messages)),
                                thread_name_prefix="queue-send") as pool:
            for future in [pool.submit(self.send, message) for message in messages]:
                future.result()

    def depth(self) -> int:
        with storage_errors(f"queue {self.client.queue_name}"):
            return self.client.get_queue_properties().approximate_message_count

    def oldest_waiting(self) -> datetime | None:
        """When the first visible message was sent: a peek, which neither dequeues it
        nor counts as a delivery."""
        with storage_errors(f"queue {self.client.queue_name}"):
            head = self.client.peek_messages(max_messages=1)
        return head[0].inserted_on if head else None

"""Storage queues: JSON messages, base64-encoded as the Functions host expects by
default (`messageEncoding: base64`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from azure.core.exceptions import HttpResponseError, ResourceExistsError
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


def batches(items: Sequence[M], *, most: int,
            beside: Callable[[M], int] | None = None) -> list[list[M]]:
    """`items` in order, cut into runs of at most `most` whose JSON fits one message
    (with room for an envelope). Storage Queues have no batch send, so many small
    messages travel as one. `beside` is what an item adds to the envelope besides itself
    (its id in a list of the envelope). Raises `ValueError` for an item too large on its
    own."""
    budget = MAX_MESSAGE_BYTES - _ENVELOPE_BYTES
    runs: list[list[M]] = []
    run: list[M] = []
    size = 0
    for item in items:
        # The item and its separating comma, and what it adds to the envelope.
        length = len(item.model_dump_json().encode()) + 1 + (beside(item) if beside else 0)
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


@dataclass(frozen=True)
class Sent:
    """A message just sent: its id and the pop receipt that lets its sender withdraw it
    or make it visible at once while no worker has taken it."""

    id: str
    pop_receipt: str


class WorkQueue:
    """Sends pydantic messages to one queue."""

    def __init__(self, client: QueueClient) -> None:
        self.client = client

    def send(self, message: BaseModel, *, delay_seconds: int = 0) -> Sent:
        body = message_body(message)
        with storage_errors(f"queue {self.client.queue_name}"):
            sent = self.client.send_message(body, visibility_timeout=delay_seconds or None)
        return Sent(id=sent.id, pop_receipt=sent.pop_receipt)

    def send_all(self, messages: Sequence[BaseModel], *, delay_seconds: int = 0) -> list[Sent]:
        """Send every message, several at once (Storage Queues have no batch send).
        Each is tried; the first failure is raised after all have finished."""
        if len(messages) <= 1:
            return [self.send(message, delay_seconds=delay_seconds) for message in messages]
        with ThreadPoolExecutor(max_workers=min(SEND_CONCURRENCY, len(messages)),
                                thread_name_prefix="queue-send") as pool:
            futures = [pool.submit(self.send, message, delay_seconds=delay_seconds)
                       for message in messages]
            return [future.result() for future in futures]

    def withdraw(self, sent: Sent) -> bool:
        """Delete a message its sender has done the work of; False when a worker has
        taken it meanwhile (its pop receipt changed), which then does the work again."""
        return self._with_receipt(sent, lambda: self.client.delete_message(
            sent.id, sent.pop_receipt))

    def release(self, sent: Sent) -> bool:
        """Make a delayed message visible now, for a worker to take; False when a worker
        has taken it already."""
        return self._with_receipt(sent, lambda: self.client.update_message(
            sent.id, sent.pop_receipt, visibility_timeout=0))

    def _with_receipt(self, sent: Sent, call: Callable[[], object]) -> bool:
        with storage_errors(f"queue {self.client.queue_name}"):
            try:
                call()
            except HttpResponseError as exc:
                # 404 MessageNotFound, 400 PopReceiptMismatch: a worker took it.
                if exc.status_code in (400, 404):
                    return False
                raise
        return True

    def depth(self) -> int:
        with storage_errors(f"queue {self.client.queue_name}"):
            return self.client.get_queue_properties().approximate_message_count

    def oldest_waiting(self) -> datetime | None:
        """When the first visible message was sent: a peek, which neither dequeues it
        nor counts as a delivery."""
        with storage_errors(f"queue {self.client.queue_name}"):
            head = self.client.peek_messages(max_messages=1)
        return head[0].inserted_on if head else None

"""Timer and queue triggers, run as the Functions host runs them."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest
from azure.storage.queue import QueueServiceClient

from calbridge.host.app import QueueFunction, QueueOptions, TimerFunction
from calbridge.ncrontab import Schedule
from calbridge.store.queues import ensure_queue, poison_queue_name, queue_client

log = logging.getLogger("calbridge.host")


class TimerRunner(threading.Thread):
    """Fires one timer function on its NCRONTAB schedule (UTC)."""

    def __init__(self, function: TimerFunction, schedule: str, stop: threading.Event) -> None:
        super().__init__(name=f"timer:{function.name}", daemon=True)
        self.function = function
        self.schedule = Schedule.parse(schedule)
        self.stop_event = stop
        self.runs = 0

    def run(self) -> None:
        if self.function.run_on_startup:
            self._fire(past_due=False)
        due = self.schedule.next_after(datetime.now(UTC))
        while not self.stop_event.is_set():
            wait = (due - datetime.now(UTC)).total_seconds()
            if wait > 0 and self.stop_event.wait(min(wait, 1.0)):
                return
            if datetime.now(UTC) < due:
                continue
            late = (datetime.now(UTC) - due).total_seconds() > 1.0
            self._fire(past_due=late)
            due = self.schedule.next_after(datetime.now(UTC))

    def _fire(self, past_due: bool) -> None:
        self.runs += 1
        try:
            self.function.handler(TimerRequest(past_due=past_due))
        except Exception:
            log.exception("timer %s failed", self.function.name)


class QueueRunner(threading.Thread):
    """Polls one queue and runs its function, as the Functions host does: the messages of
    a batch (`batchSize`) run at once, and a new batch is fetched when the messages in
    flight are down to `newBatchThreshold`. A message that fails is made visible again
    after `visibility_timeout`, and after `max_dequeue_count` failed attempts it moves to
    `<queue>-poison`."""

    def __init__(self, function: QueueFunction, service: QueueServiceClient,
                 options: QueueOptions, stop: threading.Event) -> None:
        super().__init__(name=f"queue:{function.queue_name}", daemon=True)
        self.function = function
        self.options = options
        self.stop_event = stop
        self.queue = queue_client(service, function.queue_name)
        self.poison = queue_client(service, poison_queue_name(function.queue_name))
        self.processed = 0
        self.failed = 0
        self._in_flight = 0
        self._settled = threading.Condition()
        self._pool = ThreadPoolExecutor(
            max_workers=options.batch_size + options.new_batch_threshold,
            thread_name_prefix=f"queue:{function.queue_name}")

    def run(self) -> None:
        idle = 0.1
        max_idle = max(0.1, self.options.max_polling_interval.total_seconds())
        try:
            while not self.stop_event.is_set():
                with self._settled:
                    self._settled.wait_for(
                        lambda: self._in_flight <= self.options.new_batch_threshold
                        or self.stop_event.is_set(), timeout=1)
                    if self._in_flight > self.options.new_batch_threshold:
                        continue
                try:
                    ensure_queue(self.queue)
                    ensure_queue(self.poison)
                    handled = self._poll_once()
                except Exception:
                    log.exception("polling %s failed", self.function.queue_name)
                    handled = 0
                idle = 0.1 if handled else min(idle * 2, max_idle)
                if not handled and self.stop_event.wait(idle):
                    return
        finally:
            self._pool.shutdown(wait=True)  # messages begun are finished

    def _poll_once(self) -> int:
        messages = list(self.queue.receive_messages(
            messages_per_page=self.options.batch_size,
            max_messages=self.options.batch_size, visibility_timeout=600))
        for message in messages:
            with self._settled:
                self._in_flight += 1
            self._pool.submit(self._run_one, message)
        return len(messages)

    def _run_one(self, message: object) -> None:
        try:
            self._process(message)
        except Exception:
            log.exception("queue function %s: the message was not settled",
                          self.function.name)
        finally:
            with self._settled:
                self._in_flight -= 1
                self._settled.notify_all()

    def _process(self, message: object) -> None:
        body = message.content  # type: ignore[attr-defined]
        wrapped = QueueMessage(id=message.id, body=body,  # type: ignore[attr-defined]
                               dequeue_count=message.dequeue_count,  # type: ignore[attr-defined]
                               insertion_time=message.inserted_on,  # type: ignore[attr-defined]
                               expiration_time=message.expires_on,  # type: ignore[attr-defined]
                               pop_receipt=message.pop_receipt)  # type: ignore[attr-defined]
        started = time.monotonic()
        try:
            self.function.handler(wrapped)
        except Exception as exc:
            with self._settled:
                self.failed += 1
            attempts = message.dequeue_count or 1  # type: ignore[attr-defined]
            log.warning("queue function %s failed (attempt %d): %s", self.function.name,
                        attempts, type(exc).__name__)
            if attempts >= self.options.max_dequeue_count:
                self.poison.send_message(body)
                self.queue.delete_message(message)
                log.error("message %s moved to %s after %d attempts",
                          message.id, self.poison.queue_name, attempts)  # type: ignore[attr-defined]
            else:
                self.queue.update_message(
                    message, visibility_timeout=int(
                        self.options.visibility_timeout.total_seconds()))
            return
        with self._settled:
            self.processed += 1
        # As the Functions host logs every execution ("Executed 'Functions.x' (Succeeded)").
        log.info("executed queue function %s (succeeded, %.2f s)", self.function.name,
                 time.monotonic() - started)
        self.queue.delete_message(message)

"""The local Functions host: HTTP, timer and queue triggers of one app, in one process."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from calbridge.bridges import registry
from calbridge.config import STORAGE_SETTING, Settings, setting_defaults
from calbridge.host.app import load_app, load_host_config, resolve_setting_expression
from calbridge.host.server import FunctionsHttpServer, ServerLimits
from calbridge.host.triggers import QueueRunner, TimerRunner
from calbridge.store.clients import queue_service

log = logging.getLogger("calbridge.host")
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LocalHost:
    """Serves `app_spec` (module:attribute) like `func start` would."""

    app_spec: str = "function_app:app"
    host: str = "127.0.0.1"
    port: int = 7071
    host_json: Path = ROOT / "host.json"
    run_timers: bool = True
    run_queues: bool = True
    read_timeout: float = ServerLimits.read_timeout
    max_connections: int = ServerLimits.max_connections
    server: FunctionsHttpServer | None = None
    timers: list[TimerRunner] = field(default_factory=list)
    queues: list[QueueRunner] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> LocalHost:
        app = load_app(self.app_spec)
        config = load_host_config(self.host_json)
        settings = Settings.from_env()
        limits = ServerLimits(max_body_bytes=settings.max_body_bytes,
                              read_timeout=self.read_timeout,
                              max_connections=self.max_connections)
        self.server = FunctionsHttpServer((self.host, self.port), app.http, config.route_prefix,
                                          settings.function_key, limits,
                                          booking_system_key=settings.booking_system_key)
        if self.run_timers:
            for timer in app.timers:
                schedule = resolve_setting_expression(
                    timer.schedule,
                    {**setting_defaults(), **registry.setting_defaults(), **os.environ})
                self.timers.append(TimerRunner(timer, schedule, self._stop))
        if self.run_queues and app.queues:
            for queue in app.queues:
                if queue.connection != STORAGE_SETTING:
                    raise ValueError(f"{queue.name}: only the {STORAGE_SETTING} connection "
                                     "is supported locally")
            service = queue_service(settings)
            self.queues = [QueueRunner(q, service, config.queues, self._stop) for q in app.queues]
        self.server.start_background()
        for runner in [*self.timers, *self.queues]:
            runner.start()
        log.info("serving %d HTTP, %d timer and %d queue functions on %s", len(app.http),
                 len(self.timers), len(self.queues), self.url)
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def stop(self) -> None:
        self._stop.set()
        if self.server:
            self.server.shutdown()
            self.server.server_close()
        for runner in [*self.timers, *self.queues]:
            runner.join(timeout=10)

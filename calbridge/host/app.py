"""Reading a Functions app the way the Functions host does: the registered functions
and their bindings from the `FunctionApp`, and `host.json` / `local.settings.json`."""

from __future__ import annotations

import importlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.functions as func


@dataclass(frozen=True)
class HttpFunction:
    name: str
    route: str
    methods: frozenset[str]
    anonymous: bool
    handler: Callable[..., Any]


@dataclass(frozen=True)
class TimerFunction:
    name: str
    schedule: str
    run_on_startup: bool
    arg_name: str
    handler: Callable[..., Any]


@dataclass(frozen=True)
class QueueFunction:
    name: str
    queue_name: str
    connection: str
    arg_name: str
    handler: Callable[..., Any]


@dataclass
class LoadedApp:
    http: list[HttpFunction] = field(default_factory=list)
    timers: list[TimerFunction] = field(default_factory=list)
    queues: list[QueueFunction] = field(default_factory=list)


_BUILT: dict[int, tuple[func.FunctionApp, list[Any]]] = {}


def app_functions(app: func.FunctionApp) -> list[Any]:
    """The app's functions, built once per process: the Functions library refuses a second
    `get_functions()` on the same app (it counts every name twice). An app the Functions
    worker indexed already (in Azure) has its functions built again without that check.
    The app is kept beside its functions: an id is unique only while its object lives."""
    if id(app) not in _BUILT:
        _BUILT[id(app)] = (app, app.get_functions() if not app.functions_bindings else [
            builder.build(app.auth_level) for builder in app._function_builders])
    return _BUILT[id(app)][1]


def load_app(spec: str) -> LoadedApp:
    """Import `module:attribute` (a `func.FunctionApp`) and list its triggers."""
    module_name, _, attribute = spec.partition(":")
    return read_app(getattr(importlib.import_module(module_name), attribute or "app"))


def read_app(app: func.FunctionApp) -> LoadedApp:
    """The triggers of a `func.FunctionApp`, as the Functions host reads them."""
    loaded = LoadedApp()
    for function in app_functions(app):
        trigger = function.get_trigger().get_dict_repr()
        name = function.get_function_name()
        handler = function.get_user_function()
        kind = trigger["type"]
        if kind == "httpTrigger":
            methods = trigger.get("methods") or list(func.HttpMethod)
            level = trigger.get("authLevel") or func.AuthLevel.FUNCTION
            loaded.http.append(HttpFunction(
                name=name, route=trigger.get("route") or name,
                methods=frozenset(str(getattr(m, "value", m)).upper() for m in methods),
                anonymous=str(getattr(level, "value", level)).lower() == "anonymous",
                handler=handler))
        elif kind == "timerTrigger":
            loaded.timers.append(TimerFunction(
                name=name, schedule=trigger["schedule"],
                run_on_startup=bool(trigger.get("runOnStartup")),
                arg_name=trigger["name"], handler=handler))
        elif kind == "queueTrigger":
            loaded.queues.append(QueueFunction(
                name=name, queue_name=trigger["queueName"],
                connection=trigger.get("connection") or "AzureWebJobsStorage",
                arg_name=trigger["name"], handler=handler))
        else:
            raise ValueError(f"function {name}: trigger type {kind!r} is not supported locally")
    return loaded


def resolve_setting_expression(value: str, env: dict[str, str] | None = None) -> str:
    """Replace `%NAME%` with the app setting NAME, as the Functions host does."""
    source = os.environ if env is None else env

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in source:
            raise KeyError(f"app setting {name} is not set (used as %{name}%)")
        return source[name]

    return re.sub(r"%([^%]+)%", substitute, value)


@dataclass(frozen=True)
class QueueOptions:
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: timedelta = timedelta(0)
    max_polling_interval: timedelta = timedelta(minutes=1)


@dataclass(frozen=True)
class HostConfig:
    route_prefix: str = "api"
    queues: QueueOptions = QueueOptions()


def _timespan(text: str) -> timedelta:
    hours, minutes, seconds = (float(part) for part in text.split(":"))
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def load_host_config(path: Path) -> HostConfig:
    """Route prefix and queue options from host.json (defaults as the Functions host)."""
    if not path.exists():
        return HostConfig()
    data = json.loads(path.read_text())
    extensions = data.get("extensions", {})
    prefix = extensions.get("http", {}).get("routePrefix", "api")
    queues = extensions.get("queues", {})
    defaults = QueueOptions()
    options = QueueOptions(
        batch_size=int(queues.get("batchSize", defaults.batch_size)),
        new_batch_threshold=int(queues.get("newBatchThreshold", defaults.new_batch_threshold)),
        max_dequeue_count=int(queues.get("maxDequeueCount", defaults.max_dequeue_count)),
        visibility_timeout=_timespan(queues["visibilityTimeout"])
        if "visibilityTimeout" in queues else defaults.visibility_timeout,
        max_polling_interval=_timespan(queues["maxPollingInterval"])
        if "maxPollingInterval" in queues else defaults.max_polling_interval,
    )
    return HostConfig(route_prefix=prefix.strip("/"), queues=options)


def load_local_settings(path: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """`Values` of local.settings.json into the environment, without overriding what
    the environment already sets (as Core Tools does). Returns what was applied."""
    target = os.environ if env is None else env
    if not path.exists():
        return {}
    values = json.loads(path.read_text()).get("Values", {})
    applied = {}
    for key, value in values.items():
        if key not in target:
            target[key] = str(value)
            applied[key] = str(value)
    return applied

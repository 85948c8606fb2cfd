"""Logs and metrics for every calbridge process, set up once with `configure_telemetry()`.

- Every log record passes a redaction filter: bearer tokens, JWTs, `client_secret=`,
  `code=`, `sig=`, `AccountKey=` values, function keys and the values of the secret
  settings (those the shared settings and every registered adapter declare secret, also
  in an instance's `NAME__<SETTING>` form) are masked in the message, its arguments,
  extras and tracebacks.
- Records may carry `bridge`, `mapping_id`, `link_id` and `operation_id` through
  `extra=`; local output shows them, as JSON lines when `CALBRIDGE_LOG_FORMAT=json`.
- With `APPLICATIONINSIGHTS_CONNECTION_STRING` set, logs, traces and metrics go to
  Application Insights through the Azure Monitor OpenTelemetry distro, imported only
  then; without it nothing is loaded and nothing leaves the process.
- `record_metric(name, value, **dimensions)` records the metrics named below.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator

from calbridge.bridges.registry import secret_settings
from calbridge.config import STORAGE_SETTING, SettingsModel

log = logging.getLogger(__name__)

LOG_FORMAT_SETTING = "CALBRIDGE_LOG_FORMAT"
CONNECTION_STRING_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
CONTEXT_FIELDS = ("bridge", "mapping_id", "link_id", "operation_id")
LOGGER_NAME = "calbridge"  # the logger whose records go to Application Insights
MASK = "***"
_SHORTEST_SECRET = 4  # shorter values would mask ordinary words


class TelemetrySettings(SettingsModel):
    """The settings telemetry reads (the secrets are read by name, see `secret_values`)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    log_format: Literal["text", "json"] = Field(default="text", alias=LOG_FORMAT_SETTING)
    connection_string: str | None = Field(default=None, alias=CONNECTION_STRING_SETTING,
                                          repr=False)

    @field_validator("log_format", mode="before")
    @classmethod
    def _lowercase(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) and value.strip() else "text"

    @field_validator("connection_string")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value else None


# ---- metrics ---------------------------------------------------------------------------

SYNC_OPERATIONS = "calbridge.sync.operations"
SYNC_ERRORS = "calbridge.sync.errors"
SYNC_DURATION = "calbridge.sync.duration"
QUEUE_DEPTH = "calbridge.queue.depth"
WEBHOOK_DELAY = "calbridge.webhook.delay"


@dataclass(frozen=True)
class Metric:
    kind: Literal["counter", "histogram", "gauge"]
    unit: str
    description: str


METRICS: dict[str, Metric] = {
    SYNC_OPERATIONS: Metric("counter", "{operation}",
                            "sync operations applied (create, update, cancel, delete)"),
    SYNC_ERRORS: Metric("counter", "{error}", "sync operations that failed or conflicted"),
    SYNC_DURATION: Metric("histogram", "s", "time one sync run took"),
    QUEUE_DEPTH: Metric("gauge", "{message}", "messages waiting in a work queue"),
    WEBHOOK_DELAY: Metric("histogram", "s",
                          "from a change upstream to its webhook reaching calbridge"),
}


# ---- redaction -------------------------------------------------------------------------

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization header values.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*"), rf"\1 {MASK}"),
    # JSON Web Tokens anywhere (access tokens, client assertions).
    (re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*"), MASK),
    # key=value in URLs, form bodies and connection strings.
    (re.compile(r"(?i)(?<![A-Za-z0-9_])(client_secret|code|sig|accountkey|access_token|"
                r"refresh_token|client_assertion|password|api_key|apikey)=[^&;\s\"',]+"),
     rf"\1={MASK}"),
    # Headers and fields, as `name: value`, `'name': 'value'` or `"name"="value"`.
    (re.compile(r"(?i)(x-functions-key|x-api-key|authorization|client_secret|clientstate|"
                r"client_state)(['\"]?\s*[:=]\s*['\"]?)(?!\*\*\*)[^'\"\s,;&}]+"),
     rf"\1\2{MASK}"),
)


# Fields whose whole value is a secret, in extras and in the mappings they carry.
_SECRET_FIELD = re.compile(r"(?i)^(x-functions-key|x-api-key|authorization|client_secret|"
                           r"client_state|clientstate|api_?key|password|access_token|"
                           r"refresh_token|client_assertion|accountkey|sig|secret)$")


class Redactor:
    """Masks secrets in text: known secret values, and anything shaped like one."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.learn(secrets)

    def learn(self, secrets: Iterable[str]) -> None:
        known = set(self._secrets) | {s for s in secrets if s and len(s) >= _SHORTEST_SECRET}
        self._secrets = sorted(known, key=len, reverse=True)  # longest first: no leftovers

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def value(self, value: Any) -> Any:
        """A log extra with secrets masked; values of unknown types become text."""
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {str(k): self.field(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(v) for v in value]
        return self(str(value))


    def field(self, name: str, value: Any) -> Any:
        """`value` masked whole when `name` says it is a secret, else as `value()`."""
        if value not in (None, "") and _SECRET_FIELD.match(name):
            return MASK
        return self.value(value)


def secret_values(env: Mapping[str, str]) -> list[str]:
    """The values of the secret settings — as named, or with an instance's `NAME__`
    prefix — and the storage account key if one is set."""
    names = secret_settings()
    suffixes = tuple(f"__{name}" for name in names)
    values = [value for key, value in env.items()
              if key in names or key.endswith(suffixes)]
    match = re.search(r"(?i)AccountKey=([^;]+)", env.get(STORAGE_SETTING, ""))
    if match:
        values.append(match.group(1))
    return [v.strip() for v in values if v and v.strip()]


_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}
_REDACTED = "_calbridge_redacted"


class RedactingFilter(logging.Filter):
    """Masks secrets in a record before any handler formats or exports it."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _REDACTED, False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the message: drop them, unseen
            record.msg, record.args = self.redactor(f"{record.msg!s} (arguments dropped: "
                                                    "they did not fit the message)"), None
        else:
            clean = self.redactor(message)
            if clean != message:  # else keep the template: it groups records in queries
                record.msg, record.args = clean, None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                setattr(record, key, self.redactor.field(key, value))
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            rendered = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            clean = self.redactor(rendered)
            if clean != rendered:  # the exception itself holds a secret: keep only text
                record.msg = f"{record.msg}\n{clean}"
                record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor(record.stack_info)
        setattr(record, _REDACTED, True)
        return True


# ---- formats ---------------------------------------------------------------------------

def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items()
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")}


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, context ids, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        extras = _extras(record)
        entry.update({field: extras.pop(field) for field in CONTEXT_FIELDS
                      if extras.get(field) is not None})
        entry.update({key: value for key, value in extras.items() if key not in entry})
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class ContextTextFormatter(logging.Formatter):
    """The usual text line, followed by the record's context ids and extras."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        extras = _extras(record)
        ordered = [*(f for f in CONTEXT_FIELDS if f in extras),
                   *(k for k in extras if k not in CONTEXT_FIELDS)]
        context = " ".join(f"{key}={extras[key]}" for key in ordered
                           if extras[key] is not None)
        return f"{line} [{context}]" if context else line


# ---- set-up ----------------------------------------------------------------------------

class Telemetry:
    """What `configure_telemetry` set up for this process."""

    def __init__(self, settings: TelemetrySettings) -> None:
        self.settings = settings
        self.redactor = Redactor()
        self.filter = RedactingFilter(self.redactor)
        self.exporting = False
        self._instruments: dict[str, Any] = {}
        self._lock = threading.Lock()

    def install(self) -> None:
        """Filter (and, locally, format) every handler of the root and calbridge loggers;
        safe to repeat: handlers added since are covered too."""
        for logger in (logging.getLogger(), logging.getLogger(LOGGER_NAME)):
            for handler in logger.handlers:
                if self.filter not in handler.filters:
                    handler.addFilter(self.filter)
                if isinstance(handler, logging.StreamHandler):
                    self._format(handler)

    def _format(self, handler: logging.Handler) -> None:
        current = handler.formatter
        if isinstance(current, JsonLinesFormatter | ContextTextFormatter):
            return
        if self.settings.log_format == "json":
            handler.setFormatter(JsonLinesFormatter())
        elif current is None or type(current) is logging.Formatter:
            fmt = current._fmt if current else None
            handler.setFormatter(ContextTextFormatter(fmt, current.datefmt if current else None))

    def export_to_azure_monitor(self) -> None:
        """Send logs of the calbridge loggers, traces and metrics to Application Insights.
        A failure here is logged, never raised: telemetry must not stop the bridge."""
        try:
            from azure.monitor.opentelemetry import configure_azure_monitor

            configure_azure_monitor(connection_string=self.settings.connection_string,
                                    logger_name=LOGGER_NAME)
        except Exception as exc:
            log.warning("Application Insights export is off: %s", type(exc).__name__)
            return
        self.exporting = True

    def record(self, name: str, value: float, dimensions: Mapping[str, Any]) -> None:
        metric = METRICS[name]
        attributes = {key: str(v) for key, v in dimensions.items() if v is not None}
        if not self.exporting:
            log.debug("metric %s %s", name, value,
                      extra={"metric": name, "dimensions": attributes})
            return
        instrument = self._instrument(name, metric)
        if metric.kind == "counter":
            instrument.add(value, attributes)
        elif metric.kind == "gauge" and hasattr(instrument, "set"):
            instrument.set(value, attributes)
        else:
            instrument.record(value, attributes)

    def _instrument(self, name: str, metric: Metric) -> Any:
        with self._lock:
            if name not in self._instruments:
                from opentelemetry import metrics

                meter = metrics.get_meter(LOGGER_NAME)
                create = {"counter": meter.create_counter,
                          "histogram": meter.create_histogram,
                          "gauge": getattr(meter, "create_gauge", meter.create_histogram)
                          }[metric.kind]
                self._instruments[name] = create(name, unit=metric.unit,
                                                 description=metric.description)
            return self._instruments[name]


_lock = threading.Lock()
_telemetry: Telemetry | None = None


def configure_telemetry(env: Mapping[str, str] | None = None) -> Telemetry:
    """Set up logging and export once per process (later calls only learn new secret
    values and cover handlers added since). Reads the settings from `env` or the
    environment."""
    global _telemetry
    source = os.environ if env is None else env
    with _lock:
        if _telemetry is None:
            try:
                settings = TelemetrySettings.model_validate(dict(source))
            except ValidationError:
                settings = TelemetrySettings()
                log.warning("%s must be text or json; using text", LOG_FORMAT_SETTING)
            _telemetry = Telemetry(settings)
            if settings.connection_string:
                _telemetry.export_to_azure_monitor()
        _telemetry.redactor.learn(secret_values(source))
        _telemetry.install()
        return _telemetry


def record_metric(name: str, value: float, **dimensions: Any) -> None:
    """Record one of `METRICS` (counters add `value`); dimensions such as `bridge`,
    `operation` or `queue` become metric attributes. Without export it is a debug log."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(sorted(METRICS))}")
    telemetry = _telemetry
    if telemetry is None:
        log.debug("metric %s %s", name, value, extra={"metric": name, "dimensions": dimensions})
        return
    telemetry.record(name, value, dimensions)

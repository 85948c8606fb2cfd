"""Telemetry: secrets never reach a log line, records carry their context ids, and
nothing of Azure Monitor is loaded unless Application Insights is configured."""

from __future__ import annotations

import ast
import io
import json
import logging
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import calbridge
from calbridge import telemetry
from calbridge.telemetry import (
    CONNECTION_STRING_SETTING,
    METRICS,
    ContextTextFormatter,
    JsonLinesFormatter,
    RedactingFilter,
    Redactor,
    TelemetrySettings,
    secret_values,
)

ROOT = Path(__file__).resolve().parents[2]

SETTINGS = {
    "OUTLOOK_CLIENT_SECRET": "outlook-Secret~Value.1",
    "BOOKING_SYSTEM_API_KEY": "booking-api-key-42",
    "BOOKING_SYSTEM_CLIENT_SECRET": "booking-client-secret-43",
    "BOOKING_SYSTEM_WEBHOOK_SECRET": "webhook-signing-secret-44",
    "CALBRIDGE_FUNCTION_KEY": "function-key-45",
    "AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountName=calbridge;"
                           "AccountKey=c3RvcmFnZS1rZXk+/46==;EndpointSuffix=core.windows.net",
}
STORAGE_KEY = "c3RvcmFnZS1rZXk+/46=="
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoIn0.c2lnbmF0dXJlLXBhcnQ"

# (what, text that holds the secret, the secret itself)
SECRETS = [
    ("bearer token", f"Authorization: Bearer {JWT}", JWT),
    ("opaque bearer token", "sent Bearer 0paque.Token-value_47", "0paque.Token-value_47"),
    ("bare jwt", f"assertion {JWT} refused", JWT),
    ("client_secret=", "body grant_type=client_credentials&client_secret=s3cr3t-48&scope=x",
     "s3cr3t-48"),
    ("code=", "GET /mappings/resources?code=query-key-49&active=true", "query-key-49"),
    ("sig=", "https://acct.queue.core.windows.net/q?sv=2024&sig=SAS%2Fsignature50",
     "SAS%2Fsignature50"),
    ("AccountKey=", "AccountName=x;AccountKey=YWNjb3VudC1rZXk51==;TableEndpoint=y",
     "YWNjb3VudC1rZXk51=="),
    ("x-functions-key header", "headers {'x-functions-key': 'header-key-52'}", "header-key-52"),
    ("x-functions-key line", "x-functions-key: header-key-53", "header-key-53"),
    *[(f"{name} value", f"the value is {value}!", value) for name, value in SETTINGS.items()
      if name != "AzureWebJobsStorage"],
    ("storage account key", f"key {STORAGE_KEY} used", STORAGE_KEY),
]


class Captured:
    def __init__(self, formatter: logging.Formatter) -> None:
        self.stream = io.StringIO()
        self.logger = logging.getLogger(f"calbridge.test.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.DEBUG)
        handler = logging.StreamHandler(self.stream)
        handler.setFormatter(formatter)
        handler.addFilter(RedactingFilter(Redactor(secret_values(SETTINGS))))
        self.logger.addHandler(handler)

    @property
    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def text_log() -> Captured:
    return Captured(ContextTextFormatter("%(levelname)s %(name)s: %(message)s"))


@pytest.fixture
def json_log() -> Captured:
    return Captured(JsonLinesFormatter())


# ---- redaction ---------------------------------------------------------------------------

@pytest.mark.parametrize(("what", "text", "secret"), SECRETS, ids=[s[0] for s in SECRETS])
@pytest.mark.parametrize("where", ["message", "args", "extra", "nested extra", "exception"])
def test_every_secret_kind_is_masked(text_log: Captured, json_log: Captured, what: str,
                                     text: str, secret: str, where: str) -> None:
    for captured in (text_log, json_log):
        log = captured.logger
        if where == "message":
            log.warning(text)
        elif where == "args":
            log.warning("request failed: %s (%d)", text, 401)
        elif where == "extra":
            log.warning("request failed", extra={"detail": text, "bridge": "outlook"})
        elif where == "nested extra":
            log.warning("request failed", extra={"request": {"lines": [text], "n": 1}})
        else:
            try:
                raise RuntimeError(text)
            except RuntimeError:
                log.exception("request failed")
        assert secret not in captured.text, f"{what} leaked in {where}: {captured.text}"
        assert "***" in captured.text


def test_secret_fields_are_masked_whole(json_log: Captured) -> None:
    json_log.logger.info("calling", extra={"headers": {"X-Functions-Key": "k", "Accept": "x",
                                                       "Authorization": "anything"},
                                           "client_state": "subscription-state"})
    entry = json.loads(json_log.text)
    assert entry["headers"] == {"X-Functions-Key": "***", "Accept": "x",
                                "Authorization": "***"}
    assert entry["client_state"] == "***"


def test_ordinary_text_and_templates_are_kept(text_log: Captured) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    text_log.logger.addHandler(handler)
    text_log.logger.info("synced %d events for %s", 3, "room-a@rooms.example.org",
                         extra={"status_code": 200, "error_code": "throttled"})
    assert "synced 3 events for room-a@rooms.example.org" in text_log.text
    assert records[0].msg == "synced %d events for %s"  # unchanged: nothing secret in it
    assert "status_code=200 error_code=throttled" in text_log.text


def test_short_values_are_not_treated_as_secrets() -> None:
    redactor = Redactor(["abc", "", "long-enough"])
    assert redactor("abc and long-enough") == "abc and ***"


def test_secret_values_come_from_the_settings_and_the_storage_key() -> None:
    assert set(secret_values(SETTINGS)) == {
        *(v for k, v in SETTINGS.items() if k != "AzureWebJobsStorage"), STORAGE_KEY}
    assert secret_values({"AzureWebJobsStorage": "UseDevelopmentStorage=true"}) == []


def test_an_instance_secret_is_masked_like_the_shared_one() -> None:
    env = {"CALBRIDGE_BRIDGES": "booking_system,outlook,outlook_eu=outlook",
           "OUTLOOK_EU__OUTLOOK_CLIENT_SECRET": "eu-tenant-secret-61",
           "OUTLOOK_EU__OUTLOOK_TENANT_ID": "eu-tenant-62",
           "BOOKING_SYSTEM_BASE_URL": "https://bookings.example.org"}
    redactor = Redactor(secret_values(env))
    assert redactor("eu-tenant-62 refused eu-tenant-secret-61 from "
                    "https://bookings.example.org") == (
        "eu-tenant-62 refused *** from https://bookings.example.org")


def test_a_registered_adapters_declared_secret_is_masked(toy_adapter: type) -> None:
    env = {"CALBRIDGE_BRIDGES": "toy,studio=toy", "TOY_CALENDARS": "studio-1",
           "TOY_SIGNING_KEY": "shared-toy-signing-key-63",
           "STUDIO__TOY_SIGNING_KEY": "studio-toy-signing-key-64"}
    assert set(secret_values(env)) == {"shared-toy-signing-key-63",
                                       "studio-toy-signing-key-64"}


# ---- formats -----------------------------------------------------------------------------

def test_json_lines_carry_the_context_ids(json_log: Captured) -> None:
    json_log.logger.info("event synced", extra={
        "bridge": "outlook", "mapping_id": "m1", "link_id": "l1", "operation_id": "op1",
        "calendar": "room-a"})
    entry = json.loads(json_log.text)
    assert entry["message"] == "event synced" and entry["level"] == "INFO"
    assert {k: entry[k] for k in ("bridge", "mapping_id", "link_id", "operation_id")} == {
        "bridge": "outlook", "mapping_id": "m1", "link_id": "l1", "operation_id": "op1"}
    assert entry["calendar"] == "room-a" and entry["time"].endswith("Z")


def test_json_lines_carry_exceptions_one_line_each(json_log: Captured) -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        json_log.logger.exception("failed", extra={"link_id": "l2"})
    lines = json_log.text.splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert "ValueError: bad value" in entry["exception"] and entry["link_id"] == "l2"


def test_text_lines_end_with_the_context(text_log: Captured) -> None:
    text_log.logger.info("event synced", extra={"link_id": "l1", "bridge": "outlook"})
    assert text_log.text.strip() == (
        f"INFO {text_log.logger.name}: event synced [bridge=outlook link_id=l1]")


def test_settings_default_to_text_without_export() -> None:
    settings = TelemetrySettings.model_validate({"CALBRIDGE_LOG_FORMAT": " JSON "})
    assert settings.log_format == "json" and settings.connection_string is None
    assert TelemetrySettings.model_validate({}).log_format == "text"
    assert TelemetrySettings.model_validate(
        {CONNECTION_STRING_SETTING: "  "}).connection_string is None


# ---- set-up and Azure Monitor -------------------------------------------------------------

def run_python(code: str, **env: str) -> str:
    completed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                               text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **env},
                               check=False)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_nothing_of_azure_monitor_is_loaded_without_the_setting() -> None:
    out = run_python(
        "import sys, logging\n"
        "logging.basicConfig()\n"
        "import function_app\n"
        "from calbridge import telemetry\n"
        "telemetry.configure_telemetry()\n"
        "telemetry.record_metric(telemetry.SYNC_OPERATIONS, 1, bridge='outlook')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('azure.monitor', "
        "'opentelemetry'))))\n",
        AzureWebJobsStorage="UseDevelopmentStorage=true")
    assert out.strip() == "[]"


def test_the_host_json_format_applies_to_its_console(tmp_path: Path) -> None:
    out = run_python(
        "import logging, sys\n"
        "logging.basicConfig(stream=sys.stdout, level=logging.INFO)\n"
        "from calbridge import telemetry\n"
        "telemetry.configure_telemetry()\n"
        "telemetry.configure_telemetry()\n"  # idempotent: one filter, one format
        "logging.getLogger('calbridge.x').info('hello %s', 'world', "
        "extra={'bridge': 'outlook', 'detail': 'code=query-key'})\n",
        CALBRIDGE_LOG_FORMAT="json", CALBRIDGE_FUNCTION_KEY="function-key-45")
    entry = json.loads(out)
    assert entry["message"] == "hello world" and entry["bridge"] == "outlook"
    assert entry["detail"] == "code=***"


@pytest.fixture
def fresh_telemetry(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """A process-wide set-up of our own, with a stand-in for the Azure Monitor distro."""
    calls: list[dict[str, Any]] = []
    distro = types.ModuleType("azure.monitor.opentelemetry")
    distro.configure_azure_monitor = lambda **kwargs: calls.append(kwargs)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure.monitor.opentelemetry", distro)
    monkeypatch.setattr(telemetry, "_telemetry", None)
    root_handlers = list(logging.getLogger().handlers)
    yield calls
    for handler in logging.getLogger().handlers:
        if handler in root_handlers:
            handler.filters = [f for f in handler.filters
                               if not isinstance(f, RedactingFilter)]


def test_the_connection_string_turns_on_azure_monitor_once(
        fresh_telemetry: list[dict[str, Any]]) -> None:
    env = {CONNECTION_STRING_SETTING: "InstrumentationKey=00000000-0000-0000-0000-000000000000"}
    first = telemetry.configure_telemetry(env)
    second = telemetry.configure_telemetry({**env, "OUTLOOK_CLIENT_SECRET": "learned-later"})
    assert first is second and first.exporting
    assert fresh_telemetry == [{"connection_string": env[CONNECTION_STRING_SETTING],
                                "logger_name": "calbridge"}]
    assert first.redactor("learned-later") == "***"
    for name in METRICS:  # through the OpenTelemetry API (no SDK here: a no-op meter)
        telemetry.record_metric(name, 1.5, bridge="outlook", queue="sync-work")


def test_a_failing_distro_leaves_the_bridge_running(
        fresh_telemetry: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**kwargs: Any) -> None:
        raise ValueError("invalid connection string")

    monkeypatch.setattr(sys.modules["azure.monitor.opentelemetry"],
                        "configure_azure_monitor", refuse)
    state = telemetry.configure_telemetry({CONNECTION_STRING_SETTING: "nonsense"})
    assert not state.exporting
    telemetry.record_metric(telemetry.QUEUE_DEPTH, 3, queue="sync-work")


def test_metrics_are_known_by_name(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValueError, match="unknown metric"):
        telemetry.record_metric("calbridge.sync.operation", 1)
    with caplog.at_level(logging.DEBUG, logger="calbridge.telemetry"):
        telemetry.record_metric(telemetry.WEBHOOK_DELAY, 0.8, bridge="outlook")
    assert any(getattr(r, "metric", None) == telemetry.WEBHOOK_DELAY for r in caplog.records)


def _log_record_attributes() -> set[str]:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    return set(record.__dict__) | {"message", "asctime"}


def test_no_log_call_names_a_context_field_logging_refuses() -> None:
    # `extra={"created": ...}` raises KeyError inside the log call itself (the renewal
    # timer once failed every run that way): every literal key of every `extra=` in the
    # code must be one logging lets through.
    reserved = _log_record_attributes()
    clashes = []
    for path in Path(calbridge.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg == "extra" and isinstance(keyword.value, ast.Dict):
                    clashes += [f"{path.name}:{node.lineno} {key.value}"
                                for key in keyword.value.keys
                                if isinstance(key, ast.Constant) and key.value in reserved]
    assert clashes == []

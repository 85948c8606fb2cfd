"""Settings, read once from the environment (app settings in Azure; the local host
loads `local.settings.json` into the environment first, as Core Tools does)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from calbridge.errors import ConfigurationError

STORAGE_SETTING = "AzureWebJobsStorage"
PUSH_SECRET_KEY_SETTING = "CALBRIDGE_PUSH_SECRET_KEY"  # noqa: S105 - a setting name
PUSH_SECRET_KEY_MIN_LENGTH = 32
# Marks a settings field whose value is a secret (`Field(..., json_schema_extra=SECRET)`):
# logs mask its value wherever it turns up, and in Azure it is a Key Vault reference.
SECRET: dict[str, Any] = {"secret": True}

# App Service hands an app setting whose Key Vault reference it could not resolve (the
# secret is missing, or the identity's role has not propagated yet) to the app as the
# reference text itself. Used as a value, that text would become a key: refuse it.
_KEY_VAULT_REFERENCE = re.compile(r"^\s*@Microsoft\.KeyVault\s*\(", re.IGNORECASE)
UNRESOLVED_REFERENCE = ("is an unresolved Key Vault reference (the secret is missing from "
                        "the vault, or the app's identity cannot read it yet); refusing to "
                        "use the reference text as its value")


def is_unresolved_key_vault_reference(value: object) -> bool:
    """Whether a setting's value is still the text of a Key Vault reference."""
    return isinstance(value, str) and bool(_KEY_VAULT_REFERENCE.match(value))


class SettingsModel(BaseModel):
    """Base of every settings model (calbridge's own, telemetry's, each adapter's): a
    value that is still an unresolved Key Vault reference fails validation under the
    setting's name, so the app refuses to start instead of using it."""

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_unresolved_key_vault_reference(cls, value: Any) -> Any:
        if is_unresolved_key_vault_reference(value):
            raise ValueError(UNRESOLVED_REFERENCE)
        return value

    @classmethod
    def parsed(cls, env: Mapping[str, str], system: str) -> Self:
        """The settings in `env`; a `ConfigurationError` names each setting that is missing
        or wrong by its environment name."""
        try:
            return cls.model_validate(dict(env))
        except ValidationError as exc:
            problems = "; ".join(
                f"{cls._setting_name(err['loc'])}: "
                f"{'is required' if err['type'] == 'missing' else err['msg']}"
                for err in exc.errors())
            raise ConfigurationError(f"invalid {system} settings: {problems}") from None

    @classmethod
    def _setting_name(cls, loc: tuple[int | str, ...]) -> str:
        field = str(loc[0]) if loc else "?"
        info = cls.model_fields.get(field)
        return info.alias if info and info.alias else field


class DeclaredSetting(BaseModel):
    """One setting a settings model reads: its environment name, whether its value is a
    secret, whether it must be set, and its default."""

    model_config = ConfigDict(frozen=True)

    name: str
    secret: bool = False
    required: bool = False
    default: Any = None


def declared(model: type[BaseModel]) -> list[DeclaredSetting]:
    """The settings a pydantic settings model reads, by their environment names (aliases)."""
    found = []
    for info in model.model_fields.values():
        if not info.alias:
            continue
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        required = info.is_required()
        found.append(DeclaredSetting(name=info.alias, secret=bool(extra.get("secret")),
                                     required=required,
                                     default=None if required else info.default))
    return found


class Settings(SettingsModel):
    """The settings every part of calbridge shares. Adapters parse their own on top
    of `env` (see each adapter's `Settings` model)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    storage_connection_string: str | None = Field(default=None, alias=STORAGE_SETTING, repr=False)
    storage_account_name: str | None = Field(default=None, alias=f"{STORAGE_SETTING}__accountName")
    storage_table_uri: str | None = Field(default=None, alias=f"{STORAGE_SETTING}__tableServiceUri")
    storage_queue_uri: str | None = Field(default=None, alias=f"{STORAGE_SETTING}__queueServiceUri")
    storage_client_id: str | None = Field(default=None, alias=f"{STORAGE_SETTING}__clientId")
    table_prefix: Annotated[str, Field(pattern=r"^[A-Za-z]?[A-Za-z0-9]{0,20}$")] = Field(
        default="", alias="CALBRIDGE_TABLE_PREFIX"
    )

    function_key: str | None = Field(default=None, alias="CALBRIDGE_FUNCTION_KEY", repr=False,
                                     json_schema_extra=SECRET)
    # The booking system's own key: it reaches only the routes a booking system calls
    # (`functions.callers`); every other key the host accepts is an operator's.
    booking_system_key: str | None = Field(default=None, alias="CALBRIDGE_BOOKING_SYSTEM_KEY",
                                           repr=False, json_schema_extra=SECRET)
    # Key of the keyed hash push secrets (Graph clientState, Google channel tokens) are
    # stored as (`calbridge.push_secrets`). Required with identity-based storage (Azure);
    # locally, where storage is a connection string, a key is derived from it when unset.
    push_secret_key: str | None = Field(default=None, alias=PUSH_SECRET_KEY_SETTING,
                                        repr=False, json_schema_extra=SECRET)
    bridges: str = Field(default="booking_system,outlook", alias="CALBRIDGE_BRIDGES")
    booking_bridge: str = Field(default="booking_system", alias="CALBRIDGE_BOOKING_BRIDGE")
    max_body_bytes: int = Field(default=1_048_576, alias="CALBRIDGE_MAX_BODY_BYTES", gt=0)
    http_timeout_seconds: float = Field(default=30.0, alias="CALBRIDGE_HTTP_TIMEOUT_SECONDS", gt=0)
    webhook_base_url: str | None = Field(default=None, alias="WEBHOOK_BASE_URL")

    sync_schedule: str = Field(default="0 */5 * * * *", alias="SYNC_SCHEDULE")
    deletion_sync_schedule: str = Field(default="0 */10 * * * *",
                                        alias="DELETION_SYNC_SCHEDULE")
    sync_past_days: int = Field(default=30, alias="CALBRIDGE_SYNC_PAST_DAYS", ge=0, le=3650)
    sync_future_days: int = Field(default=365, alias="CALBRIDGE_SYNC_FUTURE_DAYS", ge=1,
                                  le=3650)
    # Occurrences of a recurring series are synced one by one to calendars without
    # recurrence (the booking system) up to this many days ahead, and never beyond the
    # sync window; the window rolls forward daily, so a series with no end keeps coming.
    recurrence_horizon_days: int = Field(default=365, alias="CALBRIDGE_RECURRENCE_HORIZON_DAYS",
                                         ge=1, le=3650)
    max_attempts: int = Field(default=8, alias="CALBRIDGE_MAX_ATTEMPTS", ge=1, le=100)
    mass_delete_share: float = Field(default=0.2, alias="CALBRIDGE_MASS_DELETE_SHARE", gt=0,
                                     le=1)
    mass_delete_min: int = Field(default=10, alias="CALBRIDGE_MASS_DELETE_MIN", ge=1)
    # Deletions arriving one by one (webhooks, queued work) within this many minutes are
    # measured together, as one run's would be.
    mass_delete_window_minutes: int = Field(default=10,
                                            alias="CALBRIDGE_MASS_DELETE_WINDOW_MINUTES",
                                            ge=1, le=1440)
    inline_operations: int = Field(default=200, alias="CALBRIDGE_INLINE_OPERATIONS", ge=1)
    # A webhook request announcing at most this many distinct changes has them synced at
    # once on a worker thread (the queued copy is the fallback); 0 leaves every change
    # to the notifications queue's trigger.
    webhook_apply_now: int = Field(default=10, alias="CALBRIDGE_WEBHOOK_APPLY_NOW", ge=0,
                                   le=50)
    sync_workers: int = Field(default=4, alias="CALBRIDGE_SYNC_WORKERS", ge=1, le=32)
    # Graph's limits per mailbox (4 concurrent, 10,000 per 10 minutes) held across
    # processes (Table Storage).
    shared_pacing: bool = Field(default=False, alias="CALBRIDGE_SHARED_PACING")
    # Azure ends an HTTP-triggered call after about 230 seconds: a sync request stops
    # writing after this long and queues what is left.
    sync_budget_seconds: int = Field(default=150, alias="CALBRIDGE_SYNC_BUDGET_SECONDS",
                                     ge=0, le=220)

    # Real time: push subscriptions, their renewal, and the polling fallback.
    subscription_renewal_schedule: str = Field(default="0 */30 * * * *",
                                               alias="SUBSCRIPTION_RENEWAL_SCHEDULE")
    poll_schedule: str = Field(default="0 */1 * * * *", alias="POLL_SCHEDULE")
    # Outlook event subscriptions last at most 10080 minutes; ask for a little less.
    subscription_minutes: int = Field(default=10_000, alias="CALBRIDGE_SUBSCRIPTION_MINUTES",
                                      ge=45, le=10_070)
    # How often a calendar with a healthy subscription is still polled (reconciliation).
    reconcile_minutes: int = Field(default=30, alias="CALBRIDGE_RECONCILE_MINUTES", ge=1,
                                   le=1440)

    env: Mapping[str, str] = Field(default_factory=dict, exclude=True, repr=False)

    @field_validator("storage_connection_string", "function_key", "booking_system_key",
                     "webhook_base_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("push_secret_key", mode="before")
    @classmethod
    def _long_push_secret_key(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        if is_unresolved_key_vault_reference(value):
            return value  # refused as such by SettingsModel, not for its length
        if isinstance(value, str) and len(value.strip()) < PUSH_SECRET_KEY_MIN_LENGTH:
            raise ValueError(f"must be at least {PUSH_SECRET_KEY_MIN_LENGTH} characters "
                             "(openssl rand -base64 32)")
        return value

    @property
    def push_key(self) -> bytes:
        """The key push secrets are hashed with: CALBRIDGE_PUSH_SECRET_KEY, or one derived
        from the storage connection string (local development) when it is unset."""
        if self.push_secret_key:
            return self.push_secret_key.strip().encode("utf-8")
        return hashlib.sha256(b"calbridge push secret key\0"
                              + (self.storage_connection_string or "").encode()).digest()

    @property
    def bridge_names(self) -> list[str]:
        """Enabled bridges, in the order configured."""
        return [name.strip() for name in self.bridges.split(",") if name.strip()]

    def table_name(self, base: str) -> str:
        return f"{self.table_prefix}{base}"

    def instance_env(self, name: str, type_name: str) -> dict[str, str]:
        """The environment a bridge instance reads its own settings from: for an instance
        named other than its type (`outlook_eu=outlook`), `OUTLOOK_EU__<SETTING>` overrides
        `<SETTING>`, so two instances of one type can point at different tenants."""
        env = dict(self.env)
        if name == type_name:
            return env
        prefix = f"{name.upper()}__"
        env.update({key[len(prefix):]: value for key, value in self.env.items()
                    if key.startswith(prefix) and len(key) > len(prefix)})
        return env

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse and validate settings; a clear `ConfigurationError` names what is wrong."""
        source = dict(os.environ if env is None else env)
        try:
            settings = cls.model_validate({**source, "env": source})
        except ValidationError as exc:
            problems = "; ".join(
                f"{_setting_name(err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigurationError(f"invalid settings: {problems}") from None
        if not (settings.storage_connection_string or settings.storage_account_name
                or settings.storage_table_uri):
            raise ConfigurationError(
                f"storage is not configured: set {STORAGE_SETTING} (connection string) "
                f"or {STORAGE_SETTING}__accountName (managed identity)"
            )
        if settings.push_secret_key is None and settings.storage_connection_string is None:
            # Identity-based storage is how calbridge runs in Azure: nothing to derive from,
            # and a fixed key would make stored push secrets as good as plain.
            raise ConfigurationError(
                f"{PUSH_SECRET_KEY_SETTING} is not set: it is required when storage is "
                f"reached with a managed identity ({STORAGE_SETTING}__accountName)")
        return settings


def setting_defaults() -> dict[str, str]:
    """Settings that have a default, by their environment name (the local host fills
    `%NAME%` binding expressions from these when the environment does not set them)."""
    return {info.alias: str(info.default) for info in Settings.model_fields.values()
            if info.alias and isinstance(info.default, (str, int, float)) and info.default != ""}


def _setting_name(loc: tuple[int | str, ...]) -> str:
    field = str(loc[0]) if loc else "?"
    info = Settings.model_fields.get(field)
    return (info.alias if info and info.alias else field)

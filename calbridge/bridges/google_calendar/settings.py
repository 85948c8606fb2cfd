"""The Google Calendar bridge's own settings, parsed from the raw environment."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ConfigDict, Field, field_validator

from calbridge.config import SECRET, SettingsModel
from calbridge.errors import ConfigurationError

DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
DEFAULT_API_BASE_URL = "https://www.googleapis.com/calendar/v3"
DEFAULT_DIRECTORY_API_BASE_URL = "https://admin.googleapis.com/admin/directory/v1"
# Read and write events, list calendars, open and stop push channels.
CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar"
# List the Workspace's room (resource) calendars through the Admin SDK Directory API.
ROOMS_SCOPE = "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly"


class GoogleCalendarSettings(SettingsModel):
    """How calbridge signs in to Google (a service account with domain-wide delegation, or
    one account's OAuth refresh token) and its request budget (environment names as
    aliases)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    # A service account's JSON key: its content (a secret), or the path of a file holding it.
    service_account_key: str | None = Field(
        default=None, alias="GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY", repr=False,
        json_schema_extra=SECRET)
    service_account_key_file: str | None = Field(
        default=None, alias="GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY_FILE")
    # The Workspace user the service account acts as (domain-wide delegation).
    subject: str | None = Field(default=None, alias="GOOGLE_CALENDAR_SUBJECT")
    # Or one account's OAuth client and refresh token.
    client_id: str | None = Field(default=None, alias="GOOGLE_CALENDAR_CLIENT_ID")
    client_secret: str | None = Field(default=None, alias="GOOGLE_CALENDAR_CLIENT_SECRET",
                                      repr=False, json_schema_extra=SECRET)
    refresh_token: str | None = Field(default=None, alias="GOOGLE_CALENDAR_REFRESH_TOKEN",
                                      repr=False, json_schema_extra=SECRET)
    token_uri: str = Field(default=DEFAULT_TOKEN_URI, alias="GOOGLE_CALENDAR_TOKEN_URI")
    api_base_url: str = Field(default=DEFAULT_API_BASE_URL, alias="GOOGLE_CALENDAR_API_BASE_URL")
    ca_bundle: str | None = Field(default=None, alias="GOOGLE_CALENDAR_CA_BUNDLE")
    max_concurrency: int = Field(default=4, alias="GOOGLE_CALENDAR_MAX_CONCURRENCY", ge=1, le=16)
    # Google allows 600 requests per minute per user and project: stay below it.
    requests_per_minute: int = Field(default=500, alias="GOOGLE_CALENDAR_REQUESTS_PER_MINUTE",
                                     ge=1, le=600)
    page_size: int = Field(default=250, alias="GOOGLE_CALENDAR_PAGE_SIZE", ge=1, le=2500)
    # Also list the Workspace's room calendars (Directory API resources), which a user's
    # calendar list leaves out unless they subscribed to them. The user calbridge acts as
    # must be an administrator who may read resources, and the delegation must cover
    # ROOMS_SCOPE.
    list_rooms: bool = Field(default=False, alias="GOOGLE_CALENDAR_LIST_ROOMS")
    customer: str = Field(default="my_customer", alias="GOOGLE_CALENDAR_CUSTOMER",
                          min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")
    directory_api_base_url: str = Field(default=DEFAULT_DIRECTORY_API_BASE_URL,
                                        alias="GOOGLE_CALENDAR_DIRECTORY_API_BASE_URL")

    @field_validator("service_account_key", "service_account_key_file", "subject", "client_id",
                     "client_secret", "refresh_token", "ca_bundle", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("token_uri", "api_base_url", "directory_api_base_url")
    @classmethod
    def _https_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return value

    @property
    def uses_service_account(self) -> bool:
        return bool(self.service_account_key or self.service_account_key_file)

    @property
    def scopes(self) -> list[str]:
        """The OAuth scopes the credentials ask for (the rooms' only when listing them)."""
        return [CALENDAR_SCOPE, ROOMS_SCOPE] if self.list_rooms else [CALENDAR_SCOPE]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GoogleCalendarSettings:
        """Parse; a `ConfigurationError` names the setting that is missing or wrong."""
        parsed = cls.parsed(env, "google_calendar")
        oauth = (parsed.client_id, parsed.client_secret, parsed.refresh_token)
        if parsed.service_account_key and parsed.service_account_key_file:
            raise ConfigurationError(
                "invalid google_calendar settings: set GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY or "
                "GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY_FILE, not both")
        if not parsed.uses_service_account and not all(oauth):
            raise ConfigurationError(
                "invalid google_calendar settings: GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY (or "
                "GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY_FILE), or GOOGLE_CALENDAR_CLIENT_ID with "
                "GOOGLE_CALENDAR_CLIENT_SECRET and GOOGLE_CALENDAR_REFRESH_TOKEN, is required")
        return parsed


"""The CalDAV bridge's own settings, parsed from the raw environment."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ConfigDict, Field, field_validator

from calbridge.config import SECRET, SettingsModel
from calbridge.errors import ConfigurationError


class CalDavSettings(SettingsModel):
    """Where the CalDAV server is and how calbridge signs in to it: Basic authentication
    (username and password) or a bearer token (environment names as aliases)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    # The server's base URL (or any URL on it that answers current-user-principal):
    # calendars are discovered from there.
    url: str = Field(alias="CALDAV_URL")
    username: str | None = Field(default=None, alias="CALDAV_USERNAME")
    password: str | None = Field(default=None, alias="CALDAV_PASSWORD", repr=False,
                                 json_schema_extra=SECRET)
    token: str | None = Field(default=None, alias="CALDAV_TOKEN", repr=False,
                              json_schema_extra=SECRET)
    ca_bundle: str | None = Field(default=None, alias="CALDAV_CA_BUNDLE")
    # Writes of one run in flight at once against one server (each PUT still guarded by
    # its own If-None-Match or If-Match): a server far away answers many at a time.
    max_concurrency: int = Field(default=4, alias="CALDAV_MAX_CONCURRENCY", ge=1, le=32)

    @field_validator("username", "password", "token", "ca_bundle", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http:// or https:// URL")
        return value if value.endswith("/") else value + "/"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CalDavSettings:
        """Parse; a `ConfigurationError` names the setting that is missing or wrong."""
        parsed = cls.parsed(env, "caldav")
        if parsed.token and (parsed.username or parsed.password):
            raise ConfigurationError("invalid caldav settings: set CALDAV_TOKEN or "
                                     "CALDAV_USERNAME with CALDAV_PASSWORD, not both")
        if bool(parsed.username) != bool(parsed.password):
            raise ConfigurationError("invalid caldav settings: CALDAV_USERNAME and "
                                     "CALDAV_PASSWORD go together")
        return parsed


"""The booking system bridge's settings, read from the environment (`BOOKING_SYSTEM_*`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from calbridge.config import SECRET, SettingsModel
from calbridge.errors import ConfigurationError

BASE_URL_SETTING = "BOOKING_SYSTEM_BASE_URL"
API_KEY_SETTING = "BOOKING_SYSTEM_API_KEY"
TOKEN_URL_SETTING = "BOOKING_SYSTEM_TOKEN_URL"  # noqa: S105 - a setting name
CLIENT_ID_SETTING = "BOOKING_SYSTEM_CLIENT_ID"
CLIENT_SECRET_SETTING = "BOOKING_SYSTEM_CLIENT_SECRET"  # noqa: S105 - a setting name
CA_BUNDLE_SETTING = "BOOKING_SYSTEM_CA_BUNDLE"


class BookingSystemSettings(SettingsModel):
    """Where the booking system is and how calbridge authenticates to it.

    Either an API key (sent in `api_key_header`) or OAuth2 client credentials
    (`token_url` + `client_id` + `client_secret`, optional `scope`).
    """

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    base_url: str = Field(alias=BASE_URL_SETTING)
    api_key: str | None = Field(default=None, alias=API_KEY_SETTING, repr=False,
                                json_schema_extra=SECRET)
    api_key_header: str = Field(default="X-API-Key", alias="BOOKING_SYSTEM_API_KEY_HEADER",
                                pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
    token_url: str | None = Field(default=None, alias=TOKEN_URL_SETTING)
    client_id: str | None = Field(default=None, alias=CLIENT_ID_SETTING)
    client_secret: str | None = Field(default=None, alias=CLIENT_SECRET_SETTING, repr=False,
                                      json_schema_extra=SECRET)
    scope: str | None = Field(default=None, alias="BOOKING_SYSTEM_SCOPE")
    webhook_secret: str | None = Field(default=None, alias="BOOKING_SYSTEM_WEBHOOK_SECRET",
                                       repr=False, json_schema_extra=SECRET)
    ca_bundle: str | None = Field(default=None, alias=CA_BUNDLE_SETTING)

    @field_validator("api_key", "token_url", "client_id", "client_secret", "scope",
                     "webhook_secret", "ca_bundle", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("base_url", "token_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator("ca_bundle")
    @classmethod
    def _existing_file(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).exists():
            raise ValueError("names a file that does not exist")
        return value

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> BookingSystemSettings:
        oauth = {TOKEN_URL_SETTING: self.token_url, CLIENT_ID_SETTING: self.client_id,
                 CLIENT_SECRET_SETTING: self.client_secret}
        if any(oauth.values()):
            missing = [name for name, value in oauth.items() if not value]
            if missing:
                raise ValueError(f"OAuth2 client credentials also need {', '.join(missing)}")
        elif not self.api_key:
            raise ValueError(f"set {API_KEY_SETTING}, or {TOKEN_URL_SETTING} + "
                             f"{CLIENT_ID_SETTING} + {CLIENT_SECRET_SETTING}")
        return self

    @property
    def uses_oauth(self) -> bool:
        return self.token_url is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BookingSystemSettings:
        """Parse the settings; a `ConfigurationError` names the setting that is wrong."""
        try:
            return cls.model_validate(dict(env))
        except ValidationError as exc:
            problems = "; ".join(f"{_setting_name(err['loc'])}: {err['msg']}"
                                 for err in exc.errors())
            raise ConfigurationError(f"booking system settings: {problems}") from None


def _setting_name(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "BOOKING_SYSTEM_*"
    info = BookingSystemSettings.model_fields.get(str(loc[0]))
    return info.alias if info and info.alias else str(loc[0])

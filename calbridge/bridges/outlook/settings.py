"""The Outlook bridge's own settings, parsed from the raw environment (`Settings.env`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from calbridge.config import SECRET, SettingsModel
from calbridge.errors import ConfigurationError

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# Exchange Online serves at most 4 concurrent requests per mailbox to one app; more are
# answered 429 (MailboxConcurrency).
MAILBOX_CONCURRENT_REQUESTS = 4


class OutlookSettings(SettingsModel):
    """Microsoft Graph app registration and limits (environment names as aliases)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    tenant_id: str = Field(alias="OUTLOOK_TENANT_ID", min_length=1)
    client_id: str = Field(alias="OUTLOOK_CLIENT_ID", min_length=1)
    client_secret: str | None = Field(default=None, alias="OUTLOOK_CLIENT_SECRET", repr=False,
                                      json_schema_extra=SECRET)
    client_certificate_path: str | None = Field(default=None,
                                                alias="OUTLOOK_CLIENT_CERTIFICATE_PATH")
    client_certificate_thumbprint: str | None = Field(
        default=None, alias="OUTLOOK_CLIENT_CERTIFICATE_THUMBPRINT")
    authority_host: str = Field(default=DEFAULT_AUTHORITY_HOST, alias="OUTLOOK_AUTHORITY_HOST")
    graph_base_url: str = Field(default=DEFAULT_GRAPH_BASE_URL, alias="GRAPH_BASE_URL")
    ca_bundle: str | None = Field(default=None, alias="OUTLOOK_CA_BUNDLE")
    mailboxes: str = Field(default="", alias="OUTLOOK_MAILBOXES")
    # "places": rooms from Graph Places, OUTLOOK_MAILBOXES when Places is refused (403/404);
    # "mailboxes": exactly OUTLOOK_MAILBOXES, Places never asked.
    calendar_source: Literal["places", "mailboxes"] = Field(default="places",
                                                           alias="OUTLOOK_CALENDAR_SOURCE")
    # Per process: every process paces Graph by itself (`bridges.pacing`), so a deployment
    # running several splits the mailbox's limit between them (infra/README.md).
    max_concurrency: int = Field(default=MAILBOX_CONCURRENT_REQUESTS,
                                 alias="OUTLOOK_MAX_CONCURRENCY", ge=1,
                                 le=MAILBOX_CONCURRENT_REQUESTS)
    requests_per_10_min: int = Field(default=10_000, alias="OUTLOOK_REQUESTS_PER_10_MIN", ge=1)
    page_size: int = Field(default=100, alias="OUTLOOK_PAGE_SIZE", ge=1, le=1000)
    write_attendees: bool = Field(default=False, alias="OUTLOOK_WRITE_ATTENDEES")
    # The booker as an attendee of the Outlook copy (Exchange then mails them an invitation);
    # off by default: the booker is always kept in calbridge's organizer property.
    organizer_as_attendee: bool = Field(default=False, alias="OUTLOOK_ORGANIZER_AS_ATTENDEE")

    @field_validator("client_secret", "client_certificate_path", "client_certificate_thumbprint",
                     "ca_bundle", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("authority_host", "graph_base_url")
    @classmethod
    def _https_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return value

    @property
    def authority(self) -> str:
        """The tenant-specific authority msal signs in against."""
        return f"{self.authority_host}/{self.tenant_id}"

    @property
    def mailbox_list(self) -> list[str]:
        """Mailboxes named in `OUTLOOK_MAILBOXES`, in order, without blanks."""
        return [m.strip() for m in self.mailboxes.split(",") if m.strip()]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OutlookSettings:
        """Parse; a `ConfigurationError` names the setting that is missing or wrong."""
        parsed = cls.parsed(env, "outlook")
        if parsed.calendar_source == "mailboxes" and not parsed.mailbox_list:
            raise ConfigurationError("invalid outlook settings: OUTLOOK_MAILBOXES is required "
                                     "with OUTLOOK_CALENDAR_SOURCE=mailboxes")
        if parsed.client_certificate_path:
            if not parsed.client_certificate_thumbprint:
                raise ConfigurationError(
                    "invalid outlook settings: OUTLOOK_CLIENT_CERTIFICATE_THUMBPRINT is required "
                    "with OUTLOOK_CLIENT_CERTIFICATE_PATH")
        elif not parsed.client_secret:
            raise ConfigurationError(
                "invalid outlook settings: OUTLOOK_CLIENT_SECRET (or "
                "OUTLOOK_CLIENT_CERTIFICATE_PATH with its thumbprint) is required")
        return parsed


"""A setting whose Key Vault reference did not resolve reaches the app as the reference
text; start-up refuses it, naming the setting, instead of using that text as a key."""

from __future__ import annotations

import pytest

from calbridge import bootstrap
from calbridge.bridges.registry import adapter_types
from calbridge.config import Settings, is_unresolved_key_vault_reference
from calbridge.errors import ConfigurationError

REFERENCE = "@Microsoft.KeyVault(VaultName=kvcalbridge;SecretName=booking-system-webhook-secret)"
STORAGE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}

# A complete, valid environment for each adapter type; each case swaps one secret for an
# unresolved reference.
VALID = {
    "booking_system": {"BOOKING_SYSTEM_BASE_URL": "https://booking.example.test",
                       "BOOKING_SYSTEM_API_KEY": "api-key",
                       "BOOKING_SYSTEM_WEBHOOK_SECRET": "webhook-secret"},
    "outlook": {"OUTLOOK_TENANT_ID": "contoso.example", "OUTLOOK_CLIENT_ID": "app",
                "OUTLOOK_CLIENT_SECRET": "client-secret",
                "OUTLOOK_CALENDAR_SOURCE": "mailboxes",
                "OUTLOOK_MAILBOXES": "room1@contoso.example"},
    "google_calendar": {"GOOGLE_CALENDAR_CLIENT_ID": "client",
                        "GOOGLE_CALENDAR_CLIENT_SECRET": "client-secret",
                        "GOOGLE_CALENDAR_REFRESH_TOKEN": "refresh-token"},
    "caldav": {"CALDAV_URL": "https://dav.example.test/", "CALDAV_USERNAME": "alice",
               "CALDAV_PASSWORD": "password"},
}


def _secret_cases() -> list[tuple[str, str]]:
    cases = [(type_name, setting.name) for type_name, adapter in adapter_types().items()
             for setting in adapter.declared_settings() if setting.secret]
    # Every adapter the registry knows is covered, and so is every secret it declares.
    assert {type_name for type_name, _ in cases} <= set(VALID)
    return cases


@pytest.mark.parametrize(("bridge", "setting"), _secret_cases(),
                         ids=lambda value: str(value))
def test_start_up_refuses_an_unresolved_reference_in_an_adapter_secret(
        bridge: str, setting: str) -> None:
    env = {**STORAGE, "CALBRIDGE_BRIDGES": bridge, **VALID[bridge], setting: REFERENCE}
    with pytest.raises(ConfigurationError) as refused:
        bootstrap.build(Settings.from_env(env))
    message = refused.value.message
    assert setting in message and "unresolved Key Vault reference" in message
    assert REFERENCE not in message  # vault and secret names stay out of the answer


def test_the_booking_webhook_secret_is_never_the_reference_text() -> None:
    # The case the fail-closed check exists for: the reference text would otherwise be
    # the HMAC key, and anyone reading the app settings could sign webhooks with it.
    env = {**STORAGE, "CALBRIDGE_BRIDGES": "booking_system", **VALID["booking_system"],
           "BOOKING_SYSTEM_WEBHOOK_SECRET": "  " + REFERENCE.lower()}
    with pytest.raises(ConfigurationError, match="BOOKING_SYSTEM_WEBHOOK_SECRET"):
        bootstrap.build(Settings.from_env(env))


def test_the_same_environment_with_resolved_secrets_starts() -> None:
    for bridge, values in VALID.items():
        built = bootstrap.build(Settings.from_env(
            {**STORAGE, "CALBRIDGE_BRIDGES": bridge, **values}))
        assert list(built.bridges) == [bridge]


@pytest.mark.parametrize("setting", ["CALBRIDGE_FUNCTION_KEY", "CALBRIDGE_TABLE_PREFIX",
                                     "CALBRIDGE_PUSH_SECRET_KEY", "AzureWebJobsStorage"])
@pytest.mark.parametrize("reference", [REFERENCE, "@Microsoft.KeyVault(x)"])
def test_shared_settings_refuse_an_unresolved_reference(setting: str, reference: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{setting}: .*unresolved Key Vault"):
        Settings.from_env({**STORAGE, setting: reference})


def test_a_disabled_bridge_does_not_stop_start_up() -> None:
    # The deployment references every adapter's secrets; only enabled bridges need theirs.
    env = {**STORAGE, "CALBRIDGE_BRIDGES": "booking_system", **VALID["booking_system"],
           "GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY": REFERENCE}
    assert list(bootstrap.build(Settings.from_env(env)).bridges) == ["booking_system"]


@pytest.mark.parametrize(("value", "unresolved"), [
    (REFERENCE, True),
    ("@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/s/)", True),
    ("@microsoft.keyvault (SecretUri=https://kv.vault.azure.net/secrets/s/)", True),
    ("a secret that mentions @Microsoft.KeyVault( later", False),
    ("", False),
])
def test_what_counts_as_an_unresolved_reference(value: str, unresolved: bool) -> None:
    assert is_unresolved_key_vault_reference(value) is unresolved

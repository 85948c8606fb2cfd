"""Settings are read once and validated with messages that name the setting."""

from __future__ import annotations

import pytest

from calbridge.config import Settings
from calbridge.errors import ConfigurationError


def test_defaults_and_bridge_list() -> None:
    settings = Settings.from_env({"AzureWebJobsStorage": "UseDevelopmentStorage=true",
                                  "CALBRIDGE_BRIDGES": " booking_system , outlook,"})
    assert settings.bridge_names == ["booking_system", "outlook"]
    assert settings.max_body_bytes == 1_048_576
    assert settings.function_key is None


PUSH_KEY = "k" * 32


def test_identity_based_storage_is_enough_with_a_push_secret_key() -> None:
    settings = Settings.from_env({"AzureWebJobsStorage__accountName": "calbridgestore",
                                  "CALBRIDGE_PUSH_SECRET_KEY": PUSH_KEY})
    assert settings.storage_account_name == "calbridgestore"
    assert settings.push_key == PUSH_KEY.encode()


def test_identity_based_storage_without_a_push_secret_key_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="CALBRIDGE_PUSH_SECRET_KEY is not set"):
        Settings.from_env({"AzureWebJobsStorage__accountName": "calbridgestore"})


def test_a_short_push_secret_key_is_refused_by_name() -> None:
    with pytest.raises(ConfigurationError, match=r"CALBRIDGE_PUSH_SECRET_KEY: .*32 characters"):
        Settings.from_env({"AzureWebJobsStorage": "UseDevelopmentStorage=true",
                           "CALBRIDGE_PUSH_SECRET_KEY": "short"})


def test_locally_the_push_secret_key_is_derived_from_the_connection_string() -> None:
    local = Settings.from_env({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    other = Settings.from_env({"AzureWebJobsStorage": "AccountName=x;AccountKey=y"})
    assert local.push_key == Settings.from_env(
        {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}).push_key
    assert local.push_key != other.push_key and len(local.push_key) == 32


def test_missing_storage_is_named() -> None:
    with pytest.raises(ConfigurationError, match="AzureWebJobsStorage"):
        Settings.from_env({})


def test_malformed_setting_is_named() -> None:
    with pytest.raises(ConfigurationError, match="CALBRIDGE_MAX_BODY_BYTES"):
        Settings.from_env({"AzureWebJobsStorage": "x", "CALBRIDGE_MAX_BODY_BYTES": "lots"})


def test_secrets_stay_out_of_repr() -> None:
    settings = Settings.from_env({"AzureWebJobsStorage": "AccountKey=supersecret",
                                  "CALBRIDGE_FUNCTION_KEY": "k3y",
                                  "CALBRIDGE_PUSH_SECRET_KEY": PUSH_KEY})
    assert "supersecret" not in repr(settings) and "k3y" not in repr(settings)
    assert PUSH_KEY not in repr(settings)

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


def test_identity_based_storage_is_enough() -> None:
    settings = Settings.from_env({"AzureWebJobsStorage__accountName": "calbridgestore"})
    assert settings.storage_account_name == "calbridgestore"


def test_missing_storage_is_named() -> None:
    with pytest.raises(ConfigurationError, match="AzureWebJobsStorage"):
        Settings.from_env({})


def test_malformed_setting_is_named() -> None:
    with pytest.raises(ConfigurationError, match="CALBRIDGE_MAX_BODY_BYTES"):
        Settings.from_env({"AzureWebJobsStorage": "x", "CALBRIDGE_MAX_BODY_BYTES": "lots"})


def test_secrets_stay_out_of_repr() -> None:
    settings = Settings.from_env({"AzureWebJobsStorage": "AccountKey=supersecret",
                                  "CALBRIDGE_FUNCTION_KEY": "k3y"})
    assert "supersecret" not in repr(settings) and "k3y" not in repr(settings)

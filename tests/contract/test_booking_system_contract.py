"""The booking system bridge passes the shared adapter contract against the example system."""

from __future__ import annotations

import pytest

from calbridge.bridges.booking_system import BookingSystemBridge
from calbridge.config import Settings
from examples.booking_system import BookingSystemServer
from tests.contract.bridge_contract import BridgeContract
from tests.fixtures.booking import BOOKING_API_KEY


@pytest.fixture
def bridge(booking: BookingSystemServer) -> BookingSystemBridge:
    settings = Settings.from_env({
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "BOOKING_SYSTEM_BASE_URL": booking.base_url,
        "BOOKING_SYSTEM_API_KEY": BOOKING_API_KEY,
        "CALBRIDGE_HTTP_TIMEOUT_SECONDS": "5",
    })
    return BookingSystemBridge.from_settings("booking_system", settings)


@pytest.fixture
def calendar_id() -> str:
    return "room_101"


class TestBookingSystemContract(BridgeContract):
    pass

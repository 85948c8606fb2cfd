"""The booking system bridge (`type_name = "booking_system"`)."""

from __future__ import annotations

from calbridge.bridges.booking_system.bridge import BookingSystemBridge
from calbridge.bridges.booking_system.settings import BookingSystemSettings

__all__ = ["BookingSystemBridge", "BookingSystemSettings"]

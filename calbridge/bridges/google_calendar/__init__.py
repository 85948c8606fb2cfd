"""Google Calendar through the Calendar API v3."""

from __future__ import annotations

from calbridge.bridges.google_calendar.adapter import GoogleCalendarBridge
from calbridge.bridges.google_calendar.settings import GoogleCalendarSettings

__all__ = ["GoogleCalendarBridge", "GoogleCalendarSettings"]

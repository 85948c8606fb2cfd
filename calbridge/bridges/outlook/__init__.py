"""Outlook / Exchange Online calendars through Microsoft Graph."""

from __future__ import annotations

from calbridge.bridges.outlook.adapter import OutlookBridge
from calbridge.bridges.outlook.settings import OutlookSettings

__all__ = ["OutlookBridge", "OutlookSettings"]

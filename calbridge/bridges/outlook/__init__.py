"""Outlook / Exchange Online calendars through Microsoft Graph."""

from __future__ import annotations

from calbridge.bridges.outlook.adapter import BatchOperation, BatchOutcome, OutlookBridge
from calbridge.bridges.outlook.settings import OutlookSettings

__all__ = ["BatchOperation", "BatchOutcome", "OutlookBridge", "OutlookSettings"]

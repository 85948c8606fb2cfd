"""CalDAV servers (RFC 4791) with collection synchronisation (RFC 6578)."""

from __future__ import annotations

from calbridge.bridges.caldav.adapter import CalDavBridge
from calbridge.bridges.caldav.settings import CalDavSettings

__all__ = ["CalDavBridge", "CalDavSettings"]

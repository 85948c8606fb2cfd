"""The adapters that ship with calbridge; importing this module registers them."""

from __future__ import annotations

import calbridge.bridges.outlook  # noqa: F401
from calbridge.bridges import booking_system, caldav, google_calendar  # noqa: F401

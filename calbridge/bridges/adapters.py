"""The adapters that ship with calbridge; importing this module registers them."""

from __future__ import annotations

from calbridge.bridges import booking_system  # noqa: F401

"""A local emulator of the Microsoft Graph v1.0 calendar API subset calbridge uses."""

from __future__ import annotations

from .server import GraphEmulator

__all__ = ["GraphEmulator"]

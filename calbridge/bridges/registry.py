"""Bridge adapters by name: adding a calendar system is one module plus one line here."""

from __future__ import annotations

from calbridge.bridges.base import CalendarBridge
from calbridge.config import Settings
from calbridge.errors import ConfigurationError

ADAPTERS: dict[str, type[CalendarBridge]] = {}


def register(adapter: type[CalendarBridge]) -> type[CalendarBridge]:
    """Class decorator: make an adapter available under its `type_name`."""
    ADAPTERS[adapter.type_name] = adapter
    return adapter


def _load_adapters() -> None:
    # Imported here, not at module import, so a broken optional adapter cannot stop
    # the others from loading, and so registration order is explicit.
    from calbridge.bridges import adapters  # noqa: F401


def configured_bridges(settings: Settings) -> dict[str, CalendarBridge]:
    """Build every bridge named in `CALBRIDGE_BRIDGES` (`name` or `name=type`)."""
    _load_adapters()
    bridges: dict[str, CalendarBridge] = {}
    for entry in settings.bridge_names:
        name, _, type_name = entry.partition("=")
        name, type_name = name.strip(), (type_name.strip() or name.strip())
        adapter = ADAPTERS.get(type_name)
        if adapter is None:
            known = ", ".join(sorted(ADAPTERS)) or "none"
            raise ConfigurationError(
                f"CALBRIDGE_BRIDGES names unknown bridge type {type_name!r} (known: {known})")
        if name in bridges:
            raise ConfigurationError(f"CALBRIDGE_BRIDGES names {name!r} twice")
        bridges[name] = adapter.from_settings(name, settings)
    return bridges

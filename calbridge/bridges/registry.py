"""Bridge adapters by name: adding a calendar system is one module plus one line here.

Everything else reads what an adapter declares (`settings_model`, `push`), so the
services, log redaction and the deployment checks need no change for a new one."""

from __future__ import annotations

from calbridge.bridges.base import CalendarBridge
from calbridge.config import DeclaredSetting, Settings, declared
from calbridge.errors import ConfigurationError

ADAPTERS: dict[str, type[CalendarBridge]] = {}


def register(adapter: type[CalendarBridge]) -> type[CalendarBridge]:
    """Class decorator: make an adapter available under its `type_name`. Raises
    `TypeError` when it declares push it does not implement."""
    push = adapter.push
    missing = [method for method, needed in (
        ("subscribe", push.subscriptions), ("unsubscribe", push.subscriptions),
        ("renew", push.subscriptions and push.renewal_keeps_id),
        ("parse_notification", push.subscriptions or push.client_state))
        if needed and getattr(adapter, method) is getattr(CalendarBridge, method)]
    if missing:
        raise TypeError(f"{adapter.__name__} declares push it does not implement: "
                        f"{', '.join(missing)}")
    ADAPTERS[adapter.type_name] = adapter
    return adapter


def _load_adapters() -> None:
    # Imported here, not at module import, so a broken optional adapter cannot stop
    # the others from loading, and so registration order is explicit.
    from calbridge.bridges import adapters  # noqa: F401


def adapter_types() -> dict[str, type[CalendarBridge]]:
    """Every registered adapter by type name, the ones calbridge ships included."""
    _load_adapters()
    return dict(ADAPTERS)


def secret_settings() -> frozenset[str]:
    """The names of the settings whose values are secrets: the shared settings' and every
    registered adapter's (which an instance also reads as `NAME__<SETTING>`)."""
    settings = [*declared(Settings)]
    for adapter in adapter_types().values():
        settings += adapter.declared_settings()
    return frozenset(setting.name for setting in settings if setting.secret)


def setting_defaults() -> dict[str, str]:
    """The defaults of the settings adapters declare, by name (the local host fills
    `%NAME%` binding expressions from these, as from the shared settings' defaults)."""
    return {setting.name: str(setting.default) for adapter in adapter_types().values()
            for setting in adapter.declared_settings()
            if isinstance(setting.default, (str, int, float)) and setting.default != ""}


def own_poll_schedules() -> dict[str, DeclaredSetting]:
    """The adapters polled on a timer of their own, by type name, with its setting."""
    return {name: adapter.poll_schedule for name, adapter in adapter_types().items()
            if adapter.poll_schedule is not None}


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

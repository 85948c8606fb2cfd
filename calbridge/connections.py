"""Connection pools for the HTTP clients calbridge keeps (storage, calendar systems)."""

from __future__ import annotations

from typing import Any

from requests.adapters import HTTPAdapter

# Connections kept per host. Threads sharing one client at once — a run's writers, its
# link flushes' reads, queue sends and workers — each keep one: `requests` (and the
# storage SDK through it) keeps 10 and drops (and logs) the rest, each next request then
# opening a new connection (a TLS handshake to Graph, Google or Table Storage).
POOL_SIZE = 32


def pooled_adapter(**options: Any) -> HTTPAdapter:
    """A `requests` adapter keeping `POOL_SIZE` connections per host."""
    return HTTPAdapter(pool_maxsize=POOL_SIZE, **options)

"""A mapping's links held compactly for planning a complete read: each link as its stored
JSON, found by its ids and turned back into an `EventLink` only when a plan needs it.

A complete listing is diffed against every link of a mapping, and a mapping may hold tens
of thousands: as models they take some 7 KB each, held here about 2 KB. A part of the read
looks up the links its events name (`find_many`, `of_series`: the `LinkStore` reads
`SyncEngine._links_of` makes) here, so planning it reads nothing from Table Storage."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from calbridge.model import End, EventLink


class LinkIndex:
    """The links of one mapping as read once, with the look-ups of `LinkStore` that
    planning uses."""

    def __init__(self, links: Iterable[EventLink]) -> None:
        # Link id → (the link as JSON, its ETag).
        self._rows: dict[str, tuple[str, str | None]] = {}
        self._by_event: dict[tuple[End, str], str] = {}
        self._by_series: dict[str, list[str]] = {}
        self._by_series_link: dict[str, list[str]] = {}
        for link in links:
            self._rows[link.id] = (link.model_dump_json(), link.etag)
            for end in End:
                if event_id := link.event_id(end):
                    self._by_event[(end, event_id)] = link.id
            if link.series_id:
                self._by_series.setdefault(link.series_id, []).append(link.id)
            if link.series_link:
                self._by_series_link.setdefault(link.series_link, []).append(link.id)

    def __len__(self) -> int:
        return len(self._rows)

    def _link(self, link_id: str) -> EventLink:
        data, etag = self._rows[link_id]
        link = EventLink.model_validate_json(data)
        link.etag = etag
        return link

    def find_many(self, mapping_id: str, event_ids: Iterable[tuple[End, str]],
                  link_ids: Iterable[str] = ()) -> list[EventLink]:
        """As `LinkStore.find_many`, from what was read."""
        wanted = {self._by_event.get(key) for key in event_ids} | set(link_ids)
        return [self._link(link_id) for link_id in sorted(i for i in wanted if i)
                if link_id in self._rows]

    def of_series(self, mapping_id: str, series_ids: Iterable[str] = (),
                  series_links: Iterable[str] = ()) -> list[EventLink]:
        """As `LinkStore.of_series`, from what was read."""
        wanted = {link_id for key in series_ids if key
                  for link_id in self._by_series.get(key, ())}
        wanted |= {link_id for key in series_links if key
                   for link_id in self._by_series_link.get(key, ())}
        return [self._link(link_id) for link_id in sorted(wanted)]

    def unlisted(self, source: End, listed: set[str]) -> list[EventLink]:
        """The links whose event at `source` is not among `listed`: what a complete
        listing that named `listed` may have lost."""
        return [self._link(link_id) for (end, event_id), link_id in self._by_event.items()
                if end is source and event_id not in listed]

    def each(self) -> Iterator[EventLink]:
        """Every link, one at a time."""
        return (self._link(link_id) for link_id in list(self._rows))

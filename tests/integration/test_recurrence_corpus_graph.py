"""Real-world recurring events (tests/fixtures/recurrence_corpus) made in an Outlook room
through the Graph emulator with the pattern calbridge converts their rule to: the series'
instances are, instant by instant, what recurring-ical-events finds for the original
VEVENT. Exdates are cancelled as a person cancels an occurrence in Outlook, by deleting it.
Series whose rule Outlook cannot carry are counted and left out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from calbridge.errors import Inexpressible, ValidationFailed
from calbridge.recurrence import rrule_to_pattern
from tests.fixtures.graph import GraphClient, graph_moment
from tests.fixtures.recurrence import Series, corpus_series, reference_occurrences
from tests.fixtures.two_bridges import ROOM

IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}
WALL = "%Y-%m-%dT%H:%M:%S"
YEARS = 3  # of occurrences compared, from each series' own start (long ago for most)

Moment = datetime | date


def utc(value: Moment) -> Moment:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def window(series: Series) -> tuple[datetime, datetime]:
    start = series.start.astimezone(UTC) if isinstance(series.start, datetime) else datetime(
        series.start.year, series.start.month, series.start.day, tzinfo=UTC)
    return start - timedelta(days=1), start + timedelta(days=366 * YEARS)


def create(graph: GraphClient, series: Series, recurrence: dict[str, Any]) -> dict[str, Any]:
    """The series made in room A in its own zone, with `recurrence` as its pattern."""
    def when(moment: Moment) -> dict[str, str]:
        wall = moment.astimezone(ZoneInfo(series.zone)).replace(tzinfo=None) \
            if isinstance(moment, datetime) else datetime(moment.year, moment.month, moment.day)
        return {"dateTime": wall.strftime(WALL), "timeZone": series.zone}

    made = graph.post(f"/users/{ROOM}/events", headers=IMMUTABLE, json={
        "subject": series.name, "isAllDay": series.all_day, "start": when(series.start),
        "end": when(series.end), "recurrence": recurrence})
    assert made.status_code == 201, (series.name, made.text)
    return made.json()


def instances(graph: GraphClient, master: dict[str, Any], series: Series
              ) -> list[dict[str, Any]]:
    low, high = window(series)
    return graph.pages(f"/users/{ROOM}/events/{master['id']}/instances", headers=IMMUTABLE,
                       params={"startDateTime": low.strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "endDateTime": high.strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "$top": "400"})


def times(rows: list[dict[str, Any]]) -> list[tuple[Moment, Moment]]:
    return sorted((graph_moment(row["start"], row["isAllDay"]),
                   graph_moment(row["end"], row["isAllDay"])) for row in rows)


def test_every_corpus_series_outlook_can_carry_has_the_reference_instances_in_graph(
        graph: GraphClient) -> None:
    series_list = corpus_series()
    refused: dict[str, list[str]] = {}
    compared: list[str] = []
    cancelled = unmatched = 0
    differences: list[str] = []
    for series in series_list:
        try:
            recurrence = rrule_to_pattern(series.rrule, series.start, series.zone)
        except (Inexpressible, ValidationFailed) as exc:
            refused.setdefault(getattr(exc, "reason", None) or "not an RFC 5545 rule",
                               []).append(series.name)
            continue
        master = create(graph, series, recurrence)
        exdates = {utc(moment) for moment in series.exdates}
        for row in instances(graph, master, series):
            if graph_moment(row["start"], row["isAllDay"]) in exdates:
                answer = graph.delete(f"/users/{ROOM}/events/{row['id']}")
                assert answer.status_code == 204, answer.text
                exdates.discard(graph_moment(row["start"], row["isAllDay"]))
                cancelled += 1
        unmatched += len(exdates)  # exdates on no occurrence: nothing to cancel
        found = times(instances(graph, master, series))
        expected = sorted((utc(start), utc(end))
                          for start, end in reference_occurrences(series, *window(series)))
        compared.append(series.name)
        if found != expected:
            first = next((n for n, pair in enumerate(zip(found, expected, strict=False))
                          if pair[0] != pair[1]), min(len(found), len(expected)))
            differences.append(
                f"{series.name} {series.rrule} from {series.start} ({series.zone}): "
                f"{len(found)} instances, reference {len(expected)}; first difference at "
                f"#{first}: {found[first:first + 1]} vs {expected[first:first + 1]}")
    print(f"\nrecurrence corpus through the Graph emulator: {len(series_list)} series, "
          f"{len(compared)} compared ({cancelled} exdates cancelled by deleting their "
          f"occurrence, {unmatched} naming no occurrence), "
          f"{sum(map(len, refused.values()))} refused by the converter")
    for reason, names in sorted(refused.items()):
        print(f"  refused ({len(names)}): {reason}")
    assert differences == []
    # The corpus holds both kinds; a converter that refused everything would pass above.
    assert len(compared) >= 25 and cancelled > 0

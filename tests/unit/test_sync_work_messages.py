"""A run's queued work cut into messages Storage Queues take (pure, no I/O): every part
fits, and nothing is lost or reordered — the events, the ids of new pairs among them and
the ids of gone events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from calbridge.model import End, Event, SyncWork
from calbridge.store.queues import MAX_MESSAGE_BYTES
from calbridge.sync.engine import _fitting

START = datetime(2031, 1, 6, 9, tzinfo=UTC)
ids = st.text(alphabet="AZaz09-_=", min_size=1, max_size=160)


def event(n: int, description_length: int) -> Event:
    return Event(id=f"AAMkAD{n:06d}" + "x" * 140, title=f"Booking {n} (Übung)",
                 description=("<p>Raum & Flügel</p> " * 100)[:description_length],
                 start=START + timedelta(hours=n), end=START + timedelta(hours=n + 1))


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=100), st.integers(min_value=0, max_value=1500),
       st.integers(min_value=0, max_value=500), st.data())
def test_every_part_fits_and_keeps_its_events_and_ids(
        count: int, length: int, gone: int, data: st.DataObject) -> None:
    events = [event(n, data.draw(st.integers(min_value=0, max_value=length)))
              for n in range(count)]
    unlinked = [e.id for e in events if data.draw(st.booleans())]
    deleted = [data.draw(ids) for _ in range(gone)]
    work = SyncWork(mapping_id="m" * 32, source=End.B, events=events, deleted=deleted,
                    unlinked=unlinked, queued_at=START)
    parts = _fitting(work)
    assert all(len(part.model_dump_json().encode()) <= MAX_MESSAGE_BYTES for part in parts)
    assert [e.id for part in parts for e in part.events] == [e.id for e in events]
    assert [i for part in parts for i in part.deleted] == deleted
    assert [i for part in parts for i in part.unlinked] == unlinked
    for part in parts:
        assert set(part.unlinked) <= {e.id for e in part.events}


def test_five_hundred_outlook_ids_of_gone_events_go_in_several_messages() -> None:
    gone = [f"AAMkADAwATM0MDAAMS1{n:05d}" + "A" * 130 for n in range(500)]
    parts = _fitting(SyncWork(mapping_id="m", source=End.B, deleted=gone))
    assert len(parts) > 1
    assert [i for part in parts for i in part.deleted] == gone

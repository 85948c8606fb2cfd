"""Merging repeated notices and packing them into queue messages (pure, no I/O)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from calbridge.bridges.base import LifecycleAction
from calbridge.services.webhooks import NoticeBatch, PushNotice, merged, read_message
from calbridge.store.queues import MAX_MESSAGE_BYTES, batches

ids = st.text(alphabet="AZaz09-_=", min_size=1, max_size=160)
calendars = st.sampled_from(["room-a@x.org", "ROOM-A@x.org", "room-b@x.org"])
subscription_ids = st.sampled_from(["s1", "s2"])
notices = st.one_of(
    st.builds(PushNotice, bridge=st.just("outlook"), calendar_id=calendars,
              event_id=st.one_of(st.none(), ids),
              change_type=st.sampled_from(["created", "updated", "deleted"]),
              subscription_id=subscription_ids),
    st.builds(PushNotice, bridge=st.just("outlook"), calendar_id=calendars,
              change_type=st.just("missed"), lifecycle=st.just(LifecycleAction.RESYNC),
              subscription_id=subscription_ids))


@given(st.lists(notices, max_size=300), st.integers(min_value=1, max_value=80))
def test_runs_keep_every_item_in_order_and_each_fits_one_message(
        items: list[PushNotice], most: int) -> None:
    runs = batches(items, most=most)
    assert [n for run in runs for n in run] == items
    for run in runs:
        assert 1 <= len(run) <= most
        assert len(NoticeBatch(notices=run).model_dump_json().encode()) <= MAX_MESSAGE_BYTES


def test_large_notices_spread_over_several_messages() -> None:
    big = [PushNotice(bridge="outlook", calendar_id="room-a@x.org", event_id="E" * 2000)
           for _ in range(50)]
    runs = batches(big, most=50)
    assert len(runs) > 1
    assert all(len(NoticeBatch(notices=r).model_dump_json()) <= MAX_MESSAGE_BYTES for r in runs)


@given(st.lists(notices, max_size=100))
def test_merging_keeps_the_first_of_each_piece_of_work(items: list[PushNotice]) -> None:
    once = merged(items)
    assert merged(once) == once
    assert all(n in items for n in once)
    changes = {((n.calendar_id or "").casefold(), n.event_id) for n in items
               if n.lifecycle is None}
    assert len([n for n in once if n.lifecycle is None]) == len(changes)


def test_one_event_created_then_updated_in_one_body_is_read_once() -> None:
    created = PushNotice(bridge="outlook", calendar_id="room-a@x.org", event_id="E1",
                         change_type="created", subscription_id="s1")
    updated = created.model_copy(update={"change_type": "updated",
                                         "calendar_id": "Room-A@x.org"})
    missed = created.model_copy(update={"change_type": "missed", "event_id": None,
                                        "lifecycle": LifecycleAction.RESYNC})
    assert merged([created, updated, missed, missed]) == [created, missed]


def test_messages_queued_by_earlier_versions_are_still_read() -> None:
    single = {"bridge": "outlook", "calendar_id": "room-a@x.org", "event_id": "E1"}
    assert [n.event_id for n in read_message(json.dumps(single))] == ["E1"]
    packed = NoticeBatch(notices=[PushNotice(**single), PushNotice(**{**single,
                                                                      "event_id": "E2"})])
    assert [n.event_id for n in read_message(packed.model_dump_json())] == ["E1", "E2"]

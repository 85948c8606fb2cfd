"""Descriptions as plain text: markup a booking system's rich-text field or Google's web
editor wrote is read as words; text that only looks a little like markup is kept."""

from __future__ import annotations

import pytest

from calbridge.bridges.booking_system.payloads import event_from_payload
from calbridge.bridges.google_calendar.convert import event_from_google
from calbridge.bridges.text import looks_like_html, plain_description
from tests.unit.test_booking_system_convert import booking
from tests.unit.test_google_calendar_convert import timed

RICH = '<p>Bring <b>music</b> &amp; a stand<br>Room&nbsp;2</p><p><a href="x">Map</a></p>'


@pytest.mark.parametrize("text", [
    "<p>one</p>", "Line<br>next", "Line<br/>next", "<BR />", "<div class='x'>a</div>",
    "<span style=\"color:red\">red</span>", "a <b>bold</b> word", "</p>", "<!-- note -->x",
    '<a href="https://example.org">site</a>', "<h2>Agenda</h2>", "<ul><li>x</li></ul>",
])
def test_markup_is_recognised(text: str) -> None:
    assert looks_like_html(text)


@pytest.mark.parametrize("text", [
    "", "Plain words", "a < b and c > d", "<3 you", "Cost <= 5 >= 2", "x<y>z",
    "Kari <kari@example.org>", "<a@b.example>", "Tom & Jerry", "bring <your> own",
    "if a<b then", "<<<>>>", "<pre-meeting>",
])
def test_text_that_is_not_markup_is_kept(text: str) -> None:
    assert not looks_like_html(text)
    assert plain_description(text) == text


def test_rich_text_becomes_its_words_in_lines() -> None:
    assert plain_description(RICH) == "Bring music & a stand\nRoom 2\n\nMap"


def test_a_booking_s_rich_text_description_is_read_as_text() -> None:
    assert event_from_payload(booking(description=RICH)).description == (
        "Bring music & a stand\nRoom 2\n\nMap")
    assert event_from_payload(booking(description="a < b")).description == "a < b"


def test_a_google_description_written_in_its_web_editor_is_read_as_text() -> None:
    # Google's API: "description: Description of the event. Can contain HTML."
    event = event_from_google(timed(description="Agenda:<br><ul><li>Budget</li>"
                                                "<li>Rooms</li></ul><b>Bring</b> laptops"),
                              "room@example.org")
    assert event.description == "Agenda:\n\nBudget\nRooms\n\nBring laptops"


@pytest.mark.parametrize(("html", "text"), [
    # A Teams invitation's copy must still join: the address follows the words, as
    # Outlook writes links in plain text.
    ('<a href="https://teams.microsoft.com/l/meetup-join/19%3ameeting_N2%40thread.v2/0">'
     'Click here to join the meeting</a>',
     "Click here to join the meeting "
     "<https://teams.microsoft.com/l/meetup-join/19%3ameeting_N2%40thread.v2/0>"),
    ('Notes: <a href="https://example.org/n">the   sheet</a>.',
     "Notes: the sheet <https://example.org/n>."),
    ('<a href="mailto:kari@example.org">Kari</a>', "Kari <kari@example.org>"),
    # Words that are the address, or no words, are not said twice.
    ('<a href="https://example.org/">https://example.org</a>', "https://example.org"),
    ('<a href="mailto:kari@example.org">kari@example.org</a>', "kari@example.org"),
    ('<a href="https://example.org"><img src="logo.png"></a>', "https://example.org"),
    # Relative and script links keep their words only.
    ('<a href="x">Map</a>', "Map"),
    ('<a href="javascript:void(0)">Open</a>', "Open"),
])
def test_a_link_keeps_where_it_leads(html: str, text: str) -> None:
    assert plain_description(html) == text

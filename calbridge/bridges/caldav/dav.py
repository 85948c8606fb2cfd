"""WebDAV/CalDAV request bodies and multistatus answers (RFC 4918, RFC 4791, RFC 6578).

Bodies are built with ElementTree; answers are parsed with defusedxml, because they come
from a server calbridge does not control (no entity expansion, no external entities)."""

from __future__ import annotations

# Building bodies only: answers are parsed with defusedxml below.
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote, urljoin, urlsplit

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from calbridge.errors import UpstreamError

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CALSERVER = "http://calendarserver.org/ns/"
XML_TYPE = "application/xml; charset=utf-8"

ET.register_namespace("D", DAV)
ET.register_namespace("C", CALDAV)
ET.register_namespace("CS", CALSERVER)


def tag(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


GETETAG = tag(DAV, "getetag")
SYNC_TOKEN = tag(DAV, "sync-token")
RESOURCETYPE = tag(DAV, "resourcetype")
DISPLAYNAME = tag(DAV, "displayname")
CURRENT_USER_PRINCIPAL = tag(DAV, "current-user-principal")
SUPPORTED_REPORT_SET = tag(DAV, "supported-report-set")
CALENDAR_HOME_SET = tag(CALDAV, "calendar-home-set")
CALENDAR_DATA = tag(CALDAV, "calendar-data")
COMPONENT_SET = tag(CALDAV, "supported-calendar-component-set")
GETCTAG = tag(CALSERVER, "getctag")


@dataclass
class DavResponse:
    """One `DAV:response` of a multistatus: its href (an absolute path, still escaped),
    the status it carries itself (RFC 6578 removed members: 404), and the properties
    found (200 propstat only)."""

    href: str
    status: int | None = None
    props: dict[str, ET.Element] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        element = self.props.get(name)
        return element.text if element is not None and element.text is not None else None

    def href_in(self, name: str) -> str | None:
        """The first `DAV:href` inside a property (principal, home set)."""
        element = self.props.get(name)
        found = element.find(tag(DAV, "href")) if element is not None else None
        return found.text.strip() if found is not None and found.text else None


@dataclass
class Multistatus:
    responses: list[DavResponse]
    sync_token: str | None = None


def _status(element: ET.Element | None) -> int | None:
    if element is None or not element.text:
        return None
    parts = element.text.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def parse_multistatus(body: bytes, base_url: str) -> Multistatus:
    """A 207 answer; hrefs are made absolute paths on the server (some servers answer
    full URLs). Raises `UpstreamError` for a body that is not a multistatus."""
    try:
        root = SafeET.fromstring(body)
    except (ET.ParseError, DefusedXmlException, ValueError):
        raise UpstreamError("caldav: the server answered a malformed multistatus") from None
    if root.tag != tag(DAV, "multistatus"):
        raise UpstreamError(f"caldav: expected a multistatus, got {root.tag}")
    responses = []
    for response in root.findall(tag(DAV, "response")):
        href = response.find(tag(DAV, "href"))
        if href is None or not href.text:
            continue
        found = DavResponse(href=absolute_path(href.text.strip(), base_url),
                            status=_status(response.find(tag(DAV, "status"))))
        for propstat in response.findall(tag(DAV, "propstat")):
            status = _status(propstat.find(tag(DAV, "status")))
            prop = propstat.find(tag(DAV, "prop"))
            if prop is None or (status is not None and not 200 <= status < 300):
                continue
            for child in prop:
                found.props[child.tag] = child
        responses.append(found)
    token = root.find(SYNC_TOKEN)
    return Multistatus(responses, token.text.strip() if token is not None and token.text
                       else None)


def absolute_path(href: str, base_url: str) -> str:
    """An href as an absolute path on the server (escaped as the server wrote it)."""
    return urlsplit(urljoin(base_url, href)).path


def last_segment(href: str) -> str:
    """A member's name in its collection, unescaped."""
    return unquote(href.rstrip("/").rsplit("/", 1)[-1])


def _body(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _props(parent: ET.Element, names: list[str]) -> None:
    prop = ET.SubElement(parent, tag(DAV, "prop"))
    for name in names:
        ET.SubElement(prop, name)


def propfind(names: list[str]) -> bytes:
    root = ET.Element(tag(DAV, "propfind"))
    _props(root, names)
    return _body(root)


def utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar_query(start: datetime, end: datetime) -> bytes:
    """A calendar-query for VEVENT resources overlapping [start, end) (RFC 4791 9.9: the
    server applies the time range to every instance, so a series matches by any of its
    occurrences); each with its etag and calendar data."""
    root = ET.Element(tag(CALDAV, "calendar-query"))
    _props(root, [GETETAG, CALENDAR_DATA])
    outer = ET.SubElement(ET.SubElement(root, tag(CALDAV, "filter")), tag(CALDAV, "comp-filter"),
                          {"name": "VCALENDAR"})
    event = ET.SubElement(outer, tag(CALDAV, "comp-filter"), {"name": "VEVENT"})
    ET.SubElement(event, tag(CALDAV, "time-range"),
                  {"start": utc_stamp(start), "end": utc_stamp(end)})
    return _body(root)


def multiget(hrefs: list[str]) -> bytes:
    root = ET.Element(tag(CALDAV, "calendar-multiget"))
    _props(root, [GETETAG, CALENDAR_DATA])
    for href in hrefs:
        ET.SubElement(root, tag(DAV, "href")).text = href
    return _body(root)


def sync_collection(token: str) -> bytes:
    """RFC 6578 3.2: members changed or removed since `token` (empty: all), level 1."""
    root = ET.Element(tag(DAV, "sync-collection"))
    ET.SubElement(root, tag(DAV, "sync-token")).text = token
    ET.SubElement(root, tag(DAV, "sync-level")).text = "1"
    _props(root, [GETETAG])
    return _body(root)


def error_names(body: bytes) -> set[str]:
    """The preconditions a `DAV:error` body names (RFC 4918 16), e.g. valid-sync-token."""
    try:
        root = SafeET.fromstring(body)
    except (ET.ParseError, DefusedXmlException, ValueError):
        return set()
    return {child.tag.rsplit("}", 1)[-1] for child in root} if root.tag == tag(DAV, "error") \
        else set()

"""Descriptions as plain text. calbridge's events carry plain text; a calendar system that
hands out HTML (Graph bodies, Google descriptions written in its web editor, a booking
system's rich-text field) is read through `html_to_text`, so a copy shows words rather
than tags."""

from __future__ import annotations

import logging
import re

from bs4 import BeautifulSoup, NavigableString, Tag

log = logging.getLogger(__name__)

# Block boundaries become line breaks; paragraph-like blocks a blank line between them.
_LINE_TAGS = ("div", "li", "tr", "section", "article", "header", "footer", "dt", "dd")
_PARAGRAPH_TAGS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol",
                   "blockquote", "pre")
_LINE, _PARAGRAPH = "\x1e", "\x1f"
_BREAKS = re.compile(r"[ \t\n\x1e\x1f]*[\x1e\x1f][ \t\n\x1e\x1f]*")
_DROPPED_TAGS = ("script", "style", "head", "title", "meta", "noscript", "template")
# A tag of the kinds rich-text editors write (opening, closing or empty), or a comment:
# "a < b > c" or "<3" is text, "<p>" or "<br/>" is markup.
_MARKUP = re.compile(
    r"<(?:/?(?:p|br|div|span|b|i|u|s|em|strong|a|ul|ol|li|table|thead|tbody|tr|td|th|"
    r"h[1-6]|font|img|hr|blockquote|pre|code|sub|sup|strike|small|big|center|html|body)"
    r"(?:\s[^<>]*)?/?|!--.*?--)>", re.IGNORECASE | re.DOTALL)


def looks_like_html(text: str) -> bool:
    """Whether a description holds markup (a tag an HTML editor writes)."""
    return "<" in text and _MARKUP.search(text) is not None


def plain_description(text: str) -> str:
    """A description as plain text: markup read as `html_to_text`, plain text kept as it
    is."""
    return html_to_text(text) if looks_like_html(text) else text


def html_to_text(html: str) -> str:
    """Plain text of an HTML body; malformed HTML never raises (the raw text is kept)."""
    try:
        soup = BeautifulSoup(html, "html.parser")
        for tag in soup.find_all(_DROPPED_TAGS):
            tag.decompose()
        for node in list(soup.find_all(string=True)):
            if not isinstance(node, NavigableString) or node.find_parent("pre"):
                continue
            collapsed = re.sub(r"\s+", " ", str(node))
            if collapsed != str(node):
                node.replace_with(collapsed)
        for link in soup.find_all("a", href=True):
            _keep_address(link)
        for br in soup.find_all("br"):
            br.replace_with("\n")
        for cell in soup.find_all(("td", "th")):
            if cell.find_next_sibling(("td", "th")) is not None:
                cell.insert_after(" | ")  # cells of a row stay apart on their line
        for tags, mark in ((_LINE_TAGS, _LINE), (_PARAGRAPH_TAGS, _PARAGRAPH)):
            for block in soup.find_all(tags):
                block.insert_before(mark)
                block.insert_after(mark)
        text = _BREAKS.sub(lambda m: "\n\n" if _PARAGRAPH in m.group(0) else "\n",
                           soup.get_text())
    except Exception:  # any parser failure: keep what the user wrote
        log.warning("html body could not be parsed")
        return _tidy(html)
    return _tidy(text)


_ADDRESS = re.compile(r"^(?:https?://|mailto:|tel:)\S+$", re.IGNORECASE)


def _keep_address(link: Tag) -> None:
    """A link keeps where it leads after its words, as Outlook writes links in plain text
    ("Join the meeting <https://…>"): a Teams or Zoom invitation's copy must still join.
    Relative and script links, and links whose words are their address, keep their words."""
    href = str(link.get("href", "")).strip()
    if not _ADDRESS.match(href):
        return
    address = href[len("mailto:"):] if href.lower().startswith("mailto:") else href
    words = " ".join(link.get_text().split())
    if not words:
        link.replace_with(address)
    elif words.rstrip("/").lower() not in (address.rstrip("/").lower(), href.lower()):
        link.append(f" <{address}>")


def _tidy(text: str) -> str:
    text = text.replace(_LINE, "").replace(_PARAGRAPH, "")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    lines = [line.strip() for line in text.split("\n")]
    tidy: list[str] = []
    for line in lines:
        if line or (tidy and tidy[-1]):
            tidy.append(line)
    return "\n".join(tidy).strip()

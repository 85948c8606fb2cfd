"""JSON from outside — request bodies, webhook deliveries, page tokens — parsed with
limits, so that whatever a sender puts in it ends as one `BadRequest`, never as an
exception deeper in (a `RecursionError` in the decoder, an integer Python refuses to
convert, a lone surrogate that cannot be written to storage or sent upstream).

The checks work on the text with C-speed regular expressions rather than by walking
the parsed value, so a body of a million tiny items costs no more than parsing it."""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from calbridge.errors import BadRequest

# No body calbridge reads nests deeper than a handful of levels.
MAX_DEPTH = 32
# Longer than any id or count calbridge reads; Python refuses over 4300 digits anyway.
MAX_NUMBER_DIGITS = 64

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_LONG_NUMBER = re.compile(rf"\d{{{MAX_NUMBER_DIGITS + 1},}}")
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\x02\x02")
_STEP_VALUES = (0, 1, -1)
# A \uD800-\uDFFF escape (or a raw surrogate in str input): only then can a decoded
# string hold a lone surrogate.
_MAY_HOLD_SURROGATE = re.compile(r"\\u[dD][89abcdefABCDEF]|[\ud800-\udfff]")


def _constant(text: str) -> Any:
    raise BadRequest(f"{text} is not JSON")


def loads(raw: bytes | str, what: str = "request body") -> Any:
    """The JSON value in `raw` (UTF-8). Raises `BadRequest` naming `what` when it is not
    JSON, or is JSON no real sender writes: nested deeper than `MAX_DEPTH`, numbers of
    more than `MAX_NUMBER_DIGITS` digits, NaN/Infinity, strings with lone surrogates."""
    if isinstance(raw, bytes | bytearray):
        try:
            raw = bytes(raw).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadRequest(f"{what} is not UTF-8 text") from None
    outside_strings = _STRING.sub('""', raw)
    if _LONG_NUMBER.search(outside_strings):
        raise BadRequest(f"{what} holds a number of more than {MAX_NUMBER_DIGITS} digits")
    try:
        value = json.loads(raw, parse_constant=_constant)
    except BadRequest as exc:
        raise BadRequest(f"{what}: {exc.message}") from None
    except RecursionError:
        raise BadRequest(f"{what} nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise BadRequest(f"{what} is not valid JSON ({exc})") from None
    if _depth(outside_strings) > MAX_DEPTH:
        raise BadRequest(f"{what} nests deeper than {MAX_DEPTH} levels")
    if _MAY_HOLD_SURROGATE.search(raw):
        try:
            # Pairs were joined by the decoder; a lone surrogate cannot be encoded.
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(f"{what} holds a lone UTF-16 surrogate (\\ud800-\\udfff), "
                             "which is not text") from None
    return value


def _depth(text: str) -> int:
    """How deeply the brackets of valid JSON text (strings blanked) nest."""
    skeleton = _NOT_BRACKET.sub("", text).encode("ascii").translate(_STEPS)
    # +1 for an opening bracket, -1 for a closing one: the deepest running sum.
    return max(accumulate(map(_STEP_VALUES.__getitem__, skeleton)), default=0)

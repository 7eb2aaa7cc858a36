"""Where each item of a JSON file's list starts, so that a problem names its line as a CSV's does.

`json.loads` gives no positions; `item_lines` walks the top-level object
again with the standard decoder's `raw_decode` (one value at a time) and
notes where each item of one list starts. Only called on text that already
parsed, so it never meets bad JSON.
"""

from __future__ import annotations

import json
import re

_SPACE = re.compile(r"[ \t\n\r]*")
_SCAN = json.JSONDecoder().raw_decode  # skipping values only: floats are fine here


def _skip(text: str, at: int) -> int:
    end = _SPACE.match(text, at)
    return end.end() if end else at


def _starts(text: str, at: int) -> list[int]:
    """The offsets of the items of the array that starts at `at` ('[')."""
    starts: list[int] = []
    at = _skip(text, at + 1)
    while text[at] != "]":
        starts.append(at)
        at = _skip(text, _SCAN(text, at)[1])
        if text[at] == ",":
            at = _skip(text, at + 1)
    return starts


def item_lines(text: str, key: str) -> list[int]:
    """The line (from 1) each item of the top-level object's list `key` starts on; [] without one,
    and [] for a file on one line (minified: every item on line 1, its number says more).

    A key given twice counts as JSON reads it: the last."""
    if "\n" not in text.strip():
        return []
    at = _skip(text, 0)
    if text[at:at + 1] != "{":
        return []
    starts: list[int] = []
    at = _skip(text, at + 1)
    while text[at] != "}":
        name, at = _SCAN(text, at)
        at = _skip(text, _skip(text, at) + 1)  # past the ':'
        if name == key and text[at] == "[":
            starts = _starts(text, at)
        at = _skip(text, _SCAN(text, at)[1])
        if text[at] == ",":
            at = _skip(text, at + 1)
    lines, line, previous = [], 1, 0
    for start in starts:
        line += text.count("\n", previous, start)
        lines.append(line)
        previous = start
    return lines

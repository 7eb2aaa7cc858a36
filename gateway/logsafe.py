"""Render text that came from outside (topics, member names, firmware strings) safely for a log line.

A device, or anyone who can publish, chooses these strings. Written as they
are, a newline forges a whole log line of any level, an ANSI escape repaints
an operator's terminal and a bidi override (U+202E) makes the text read
backwards. Everything `str.isprintable()` refuses (C0/C1 controls, DEL,
line and paragraph separators, bidi and other format characters,
unassigned and private-use code points) is written as a Python escape,
`\\n`, `\\x1b`, `\\u202e`; the text is cut to `limit` characters first.
Backslashes stay as they are: the output carries no control character, so a
second pass changes nothing but the length.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(value: object, limit: int = 120) -> str:
    """`value` as one line of printable text, at most `limit` characters before escaping."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"

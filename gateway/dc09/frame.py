"""DC-09 framing: `<LF><crc><0LLL><body><CR>`.

`crc` is four upper-case hex digits of the CRC-16/ARC of the body and `0LLL`
four hex digits of its length in bytes; the body runs from the opening quote
of the id token to the end of the timestamp (or cipher text).
"""

from __future__ import annotations

import string

from gateway.dc09.crc import crc16_arc

MAX_BODY = 0xFFF  # the length field is "0LLL"
LF, CR = b"\n", b"\r"
BARE_NAK = '"NAK"'  # some receivers (pysiaalarm, for an unknown account) answer this without a frame


class FrameError(ValueError):
    pass


def frame(body: str) -> bytes:
    raw = body.encode("ascii")
    if len(raw) > MAX_BODY:
        raise FrameError(f"message body of {len(raw)} bytes exceeds the DC-09 maximum of {MAX_BODY}")
    return LF + f"{crc16_arc(raw):04X}{len(raw):04X}".encode("ascii") + raw + CR


def unframe(text: str) -> str:
    """The body of one frame (LF and CR already removed), after checking its CRC and length."""
    head, body = text[:8], text[8:]
    if len(head) < 8 or any(c not in string.hexdigits for c in head):
        raise FrameError(f"no CRC and length header in {text[:40]!r}")
    declared = int(head[4:], 16)
    if declared != len(body):
        raise FrameError(f"length field says {declared} bytes, the body has {len(body)}")
    expected = crc16_arc(body.encode("latin-1"))
    if int(head[:4], 16) != expected:
        raise FrameError(f"CRC mismatch: header {head[:4]}, body {expected:04X}")
    return body


def split_frames(buffer: bytes) -> tuple[list[str], bytes]:
    """Complete frames (without LF/CR) found in `buffer`, and what is left over.

    Empty frames (pysiaalarm answers `<LF><CR>` to a message whose CRC fails)
    are dropped: they say nothing. A bare `"NAK"` without frame counts as one.
    """
    frames = []
    *complete, rest = buffer.split(CR)
    for chunk in complete:
        text = chunk.decode("latin-1").strip("\n")
        if text:
            frames.append(text)
    if rest.strip(b"\n").decode("latin-1") == BARE_NAK:
        frames.append(BARE_NAK)
        rest = b""
    return frames, rest

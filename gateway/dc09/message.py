"""DC-09 messages from the gateway to a receiver: encoding, and decoding for checks.

    <LF><crc><0LLL>"ADM-CID"<seq>R<rcvr>L<line>#<acct>[#<acct>|<contact id>][X..][Y..]_HH:MM:SS,MM-DD-YYYY<CR>

Encrypted, the id token gains a `*` (`"*ADM-CID"`, `"*NULL"`) and everything
after the `[` that opens the data block is replaced by the cipher text of
pad `|` data `]` extended data, timestamp (see crypto.py). The link test is a
`NULL` message with an empty data block.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Literal

from gateway.dc09.crypto import Dc09Key
from gateway.dc09.frame import frame, unframe
from gateway.dc09.timestamp import format_timestamp, parse_timestamp

MessageId = Literal["ADM-CID", "NULL"]
HEX_FIELD = re.compile(r"[0-9A-F]{1,6}")
ACCOUNT = re.compile(r"[0-9A-F]{3,16}")
SEQUENCE_MAX = 9999
_MESSAGE = re.compile(
    r'"(?P<star>\*?)(?P<id>ADM-CID|NULL)"(?P<seq>\d{4})(?:R(?P<rcvr>[0-9A-F]{1,6}))?'
    r"L(?P<line>[0-9A-F]{1,6})(?:#(?P<acct>[0-9A-F]{3,16}))?\[(?P<rest>.*)",
    re.DOTALL,
)
_REGION = re.compile(r"(?P<data>[^\[\]]*)\](?P<extended>(?:\[[^\[\]]*\])*)(?P<ts>_.*)?", re.DOTALL)


class MessageError(ValueError):
    pass


@dataclass(frozen=True)
class Route:
    """Receiver number (`R`, optional) and line/prefix number (`L`), as hex digits."""

    receiver: str | None
    line: str

    def __post_init__(self) -> None:
        for name, value in (("receiver", self.receiver), ("line", self.line)):
            if value is not None and not HEX_FIELD.fullmatch(value):
                raise MessageError(f"{name} number must be 1 to 6 upper-case hex digits, not {value!r}")

    def text(self) -> str:
        return (f"R{self.receiver}" if self.receiver is not None else "") + f"L{self.line}"


@dataclass(frozen=True)
class Message:
    message_id: MessageId
    sequence: int
    route: Route
    account: str
    timestamp: float
    data: str = ""  # inside the data block, e.g. "#123456|1120 01 001"; empty for NULL
    extended: tuple[str, ...] = field(default=())  # e.g. ("X105.2612345", "Y-5.4291234")

    def __post_init__(self) -> None:
        if not 1 <= self.sequence <= SEQUENCE_MAX:
            raise MessageError(f"sequence number {self.sequence} outside 0001-{SEQUENCE_MAX}")
        if not ACCOUNT.fullmatch(self.account):
            raise MessageError(f"account must be 3 to 16 upper-case hex digits, not {self.account!r}")
        for text in (self.data, *self.extended):
            if any(c in text for c in "[]\r\n"):
                raise MessageError(f"field {text!r} contains a DC-09 delimiter")

    def body(self, key: Dc09Key | None, rng: random.Random) -> str:
        token = f'"*{self.message_id}"' if key is not None else f'"{self.message_id}"'
        header = f"{self.sequence:04d}{self.route.text()}#{self.account}["
        region = self.data + "]" + "".join(f"[{block}]" for block in self.extended) + format_timestamp(self.timestamp)
        return token + header + (key.encrypt(region, rng) if key is not None else region)

    def encode(self, key: Dc09Key | None, rng: random.Random) -> bytes:
        return frame(self.body(key, rng))


@dataclass(frozen=True)
class Decoded:
    message: Message
    encrypted: bool


def decode_message(text: str, key: Dc09Key | None) -> Decoded:
    """Parse one framed message (without LF/CR), checking CRC and length; for tests and tools."""
    match = _MESSAGE.fullmatch(unframe(text))
    if match is None:
        raise MessageError(f"not an ADM-CID or NULL message: {text[:60]!r}")
    rest = match["rest"]
    encrypted = bool(match["star"])
    if encrypted:
        if key is None:
            raise MessageError("encrypted message and no key")
        plain = key.decrypt(rest)
        if "|" not in plain:
            raise MessageError("encrypted block has no pad terminator '|': wrong key?")
        rest = plain.split("|", 1)[1]
    region = _REGION.fullmatch(rest)
    if region is None or region["ts"] is None:
        raise MessageError(f"data block without a closing ']' and timestamp: {rest[:60]!r}")
    message_id: MessageId = "ADM-CID" if match["id"] == "ADM-CID" else "NULL"
    return Decoded(
        Message(
            message_id=message_id,
            sequence=int(match["seq"]),
            route=Route(match["rcvr"], match["line"]),
            account=match["acct"] or "",
            timestamp=parse_timestamp(region["ts"]),
            data=region["data"],
            extended=tuple(region["extended"][1:-1].split("][")) if region["extended"] else (),
        ),
        encrypted,
    )

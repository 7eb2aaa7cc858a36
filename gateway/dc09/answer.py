"""Answers of a receiver (CSR): ACK, NAK and DUH (ANSI/SIA DC-09-2013 §5.5.3).

    ACK  <LF><crc><0LLL>"ACK"<seq>R<rcvr>L<line>#<acct>[]<CR>
    *ACK <LF><crc><0LLL>"*ACK"<seq>R<rcvr>L<line>#<acct>[<cipher of pad|]timestamp><CR>
    NAK  <LF><crc><0LLL>"NAK"0000R0L0A0[]_HH:MM:SS,MM-DD-YYYY<CR>   never encrypted
    DUH  <LF><crc><0LLL>"DUH"<seq>R<rcvr>L<line>#<acct>[]<CR>

A NAK carries the receiver's clock: the sender resynchronises from it. Every
framed answer must pass its CRC and length check; a tampered one is refused.
An encrypted ACK must decrypt to a well-formed block ending in a timestamp,
which proves the receiver holds our key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from gateway.dc09.crypto import Dc09Key, DecryptError
from gateway.dc09.frame import BARE_NAK, unframe
from gateway.dc09.timestamp import TIMESTAMP, TimestampError, parse_timestamp

AnswerKind = Literal["ACK", "NAK", "DUH"]
_ANSWER = re.compile(r'"(?P<star>\*?)(?P<kind>ACK|NAK|DUH)"(?P<seq>\d{4})(?P<header>[^\[]*)\[(?P<rest>.*)', re.DOTALL)
_ACCOUNT = re.compile(r"#([0-9A-Fa-f]{3,16})")
# after the data block's closing ']': optional extended data, optional timestamp
_TAIL = re.compile(r"\](?:\[[^\[\]]*\])*(?P<ts>" + TIMESTAMP.pattern + r")?")


class AnswerError(ValueError):
    pass


@dataclass(frozen=True)
class Answer:
    kind: AnswerKind
    sequence: int  # 0000 in a NAK
    account: str | None
    timestamp: float | None  # the receiver's clock, when the answer carries it
    encrypted: bool


def parse_answer(text: str, key: Dc09Key | None) -> Answer:
    """One received frame (without LF/CR). Raises AnswerError (or FrameError) if it is not a valid answer."""
    if text == BARE_NAK:
        return Answer("NAK", 0, None, None, encrypted=False)
    match = _ANSWER.fullmatch(unframe(text))
    if match is None:
        raise AnswerError(f"not an ACK, NAK or DUH: {text[:60]!r}")
    kind: AnswerKind = "ACK" if match["kind"] == "ACK" else "NAK" if match["kind"] == "NAK" else "DUH"
    encrypted = bool(match["star"])
    rest = match["rest"]
    if encrypted:
        rest = _decrypted_tail(rest, key)
    tail = _TAIL.search(rest)
    if tail is None or tail.end() != len(rest) or (encrypted and tail["ts"] is None):
        raise AnswerError(f"malformed {kind} data block: {rest[:60]!r}")
    account = _ACCOUNT.search(match["header"])
    try:
        timestamp = parse_timestamp(tail["ts"]) if tail["ts"] else None
    except TimestampError as error:
        raise AnswerError(str(error)) from None
    return Answer(kind, int(match["seq"]), account[1].upper() if account else None, timestamp, encrypted)


def _decrypted_tail(cipher_hex: str, key: Dc09Key | None) -> str:
    if key is None:
        raise AnswerError("encrypted answer to a receiver configured without a key")
    try:
        plain = key.decrypt(cipher_hex)
    except DecryptError as error:
        raise AnswerError(f"encrypted answer: {error}") from None
    # The pad ends at '|' (the standard) or, from receivers that pad with '0's and no '|'
    # (pysiaalarm 3.2), at the data block's ']'.
    start = plain.index("|") + 1 if "|" in plain else plain.find("]")
    if start < 0:
        raise AnswerError("encrypted answer does not decrypt with the configured key")
    return plain[start:]
